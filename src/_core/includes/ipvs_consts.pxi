# Netlink and IPVS numbers ipvs_dest.pyx writes (linux/ipvs.h, linux/netlink.h, linux/socket.h);
# lvsfast/ipvs/wire.py names the same ones for the pure encoder.
cdef enum:
    NLM_F_REQUEST_ACK = 0x5  # NLM_F_REQUEST | NLM_F_ACK
    GENL_VERSION = 1
    IPVS_CMD_ATTR_SERVICE = 1
    IPVS_CMD_ATTR_DEST = 2
    IPVS_DEST_ATTR_ADDR = 1
    IPVS_DEST_ATTR_PORT = 2
    IPVS_DEST_ATTR_FWD_METHOD = 3
    IPVS_DEST_ATTR_WEIGHT = 4
    IPVS_DEST_ATTR_U_THRESH = 5
    IPVS_DEST_ATTR_L_THRESH = 6
    IPVS_DEST_ATTR_ADDR_FAMILY = 11
    AF_INET = 2
    AF_INET6 = 10
    NEW_DEST = 5  # IPVS_CMD_NEW_DEST
    SET_DEST = 6  # IPVS_CMD_SET_DEST
