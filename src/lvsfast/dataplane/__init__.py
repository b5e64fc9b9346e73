"""The load-balancing table lvsfast wants in the kernel, independent of the backend (IPVS or nftables)."""
