"""nftables data plane for kernels without IPVS.

``NftBackend`` (the dataplane ``Backend``), ``check(table)`` and ``unsupported(service|dest)``
for the config checker, ``connections()`` (live NAT flows per real server, for draining).
"""
from lvsfast.nft.backend import NftBackend, check
from lvsfast.nft.conntrack import connections
from lvsfast.nft.support import unsupported

__all__ = ["NftBackend", "check", "connections", "unsupported"]
