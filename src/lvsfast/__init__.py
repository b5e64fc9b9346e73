"""lvsfast: a keepalived-compatible VRRP + LVS daemon with a Cython core."""
from lvsfast._native import compiled_core

__version__ = "0.1.0"
__all__ = ["__version__", "compiled_core"]
