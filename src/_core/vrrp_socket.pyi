# Stub for the compiled recvmmsg core; the twin lvsfast/vrrp/_socket_py.py has the same API.
__all__ = ["recv_batch"]

def recv_batch(fd: int, family: int, max_packets: int = 64) -> list[tuple[bytes, bytes | None, bytes | None, int, int]]: ...
