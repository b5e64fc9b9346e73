"""VRRP: wire format (compiled core + twin), the sans-IO state machine, and its I/O layer."""
