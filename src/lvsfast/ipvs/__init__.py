"""lvsfast.ipvs: the kernel's IPVS programmed over generic netlink.

- :class:`lvsfast.ipvs.backend.IPVSBackend`: the data-plane Backend (read/apply/close), plus
  ``set_timeouts``, ``start_sync_daemon``/``stop_sync_daemon`` and ``dest_states``.
- :mod:`lvsfast.ipvs.wire`: the sans-IO message encoder/decoder, ``SyncDaemon`` and ``Timeouts``.
- :mod:`lvsfast.ipvs.kernel`: the batching netlink socket.
"""
