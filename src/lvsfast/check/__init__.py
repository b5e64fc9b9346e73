"""Health checkers: which real servers get traffic. Split as the VRRP side is:

- sans-IO core: :mod:`~lvsfast.check.core` (the checker's state and decisions),
  :mod:`~lvsfast.check.events` (its events and actions), :mod:`~lvsfast.check.table` (the table
  of real servers, quorum, sorry server), :mod:`~lvsfast.check.state` (one checker's verdict),
  :mod:`~lvsfast.check.quorum`, :mod:`~lvsfast.check.timer_queue`, :mod:`~lvsfast.check.reals`;
- I/O driver: :mod:`~lvsfast.check.service` (the subsystem: timers, prober, backend, control),
  :mod:`~lvsfast.check.attempt` (one asyncio attempt), :mod:`~lvsfast.check.upkeep` (drift
  repair, draining, overrides, IPVS's extras);
- probes: :mod:`~lvsfast.check.tcp_probe` (compiled TCP/HTTP prober), :mod:`~lvsfast.check.probes`,
  :mod:`~lvsfast.check.protocols`, :mod:`~lvsfast.check.http_answer`, :mod:`~lvsfast.check.genhash`.

The kernel is reached only through the data-plane port, :mod:`lvsfast.dataplane.backend`.
"""
