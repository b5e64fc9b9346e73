"""lvsfast.ipvs: the kernel's IPVS programmed over generic netlink.

- :class:`lvsfast.ipvs.backend.IPVSBackend`: the data-plane Backend, with the capabilities
  connections, timeouts and sync_daemon (no watch), plus ``dest_states``.
- :mod:`lvsfast.ipvs.wire`: the sans-IO message encoder/decoder (``SyncDaemon`` and ``Timeouts``
  are the data plane's, :mod:`lvsfast.dataplane.backend`).
- :mod:`lvsfast.ipvs.kernel`: the batching netlink socket.
"""
