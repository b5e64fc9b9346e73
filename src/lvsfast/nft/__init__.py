"""nftables data plane for kernels without IPVS: ``NftBackend``, ``unsupported``, ``check``."""
from lvsfast.nft.support import unsupported

__all__ = ["unsupported"]
