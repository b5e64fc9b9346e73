# Mirrors lvsfast/vrrp/reasons.py (checked at Receiver construction) and wire_types.py.
cdef enum:
    R_OK = 0
    R_IP_HEADER = 1
    R_TTL = 2
    R_VERSION = 3
    R_TOO_SHORT = 4
    R_LENGTH = 5
    R_CHECKSUM = 6
    R_TYPE = 7
    R_VRID = 8
    R_ADDRESS_COUNT = 9
    R_IPV6_LINK_LOCAL = 10
    R_INTERVAL_ZERO = 11
    R_INTERVAL = 12
    R_AUTH = 13
    R_ADDRESS_LIST = 14
    R_FAMILY = 15
    N_REASONS_C = 16
    VRRP_PROTO = 112
    AUTH_PASS_C = 1
    AUTH_AH_C = 2
    AH_PROTO = 51
    AH_LEN = 24
