"""The keyword tables and builders of keepalived.conf's blocks, one module a domain:

- :mod:`.builder`: the machinery every block shares (the Builder, ``make``) and the handlers of
  plain values (``INT``, ``FLOAT``, ``BOOL``...);
- :mod:`.global_defs`: the global block;
- :mod:`.vrrp`: vrrp_instance, vrrp_script, vrrp_sync_group;
- :mod:`.addresses`: virtual and static addresses, routes and rules;
- :mod:`.tracking`: what an instance tracks, vrrp_track_file (track_file), vrrp_track_process;
- :mod:`.lvs`: virtual_server with its real servers, virtual_server_group;
- :mod:`.checkers`: the checkers of a real server, their url blocks, the SSL block.

:mod:`lvsfast.config.build` walks the top level and calls them.
"""
