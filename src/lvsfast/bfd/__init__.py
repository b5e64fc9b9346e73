"""BFD (RFC 5880 Bidirectional Forwarding Detection; RFC 5881 single hop, RFC 5883 multihop).

``wire`` decodes and validates the 24-byte control packet and encodes ours (compiled
``lvsfast._core.bfd_wire`` or its pure twin ``_wire_py``, picked by the selector); ``wire_types``
holds what both twins share (the packet tuple, the error, states and diagnostic codes).
``session`` is the RFC 5880 state machine of one session, sans-IO: packets and the time go in,
:mod:`lvsfast.bfd.events` actions come out; it never touches a socket or a clock.
"""
