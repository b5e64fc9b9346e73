"""The daemon: a parent supervising a VRRP child and a checker child, as keepalived does."""
