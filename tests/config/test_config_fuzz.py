"""Arbitrary text: the parser returns a model or raises ConfigError, never anything else, never hangs."""
from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsfast.config import Config, ConfigError, analyse, loads

# Fragments that steer generated text into the grammar's corners.
FRAGMENTS = [
    "{", "}", "\n", " ", "\t", "#", "!", '"', "'", "\\", "$", "${", "$X=", "$Y=\\\n", "$X", "${X}", "@", "@^",
    "~SEQ(", "~SEQx(", "~LST(", ")", ",", "0x1f", "-1", "256", "include", "vrrp_instance", "VI_1",
    "virtual_router_id", "priority", "virtual_ipaddress", "10.0.0.1/24", "::1/128", "dev", "virtual_server",
    "real_server", "HTTP_GET", "url", "status_code", "200-299", "lb_algo", "lb_kind", "protocol", "weight",
    "track_script", "vrrp_sync_group", "group", "global_defs", "lvs_backend", "nftables", "vrrp_script",
    "script", "virtual_server_group", "fwmark", "UDP_CHECK", "payload", "MISC_CHECK", "misc_path",
    "virtual_routes", "virtual_rules", "from", "to", "table", "unicast_peer", "authentication",
    "auth_type", "AH", "state", "MASTER", "lvs_sync_daemon", "lvs_timeouts", "tcp", "SSL",
]

texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=120).map("".join),
)

_EMPTY_DIR = tempfile.mkdtemp(prefix="lvsfast-fuzz-")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_config_arbitrary_text_gives_model_or_config_error(text):
    # Relative includes resolve against the cwd: keep them inside an empty directory.
    old = os.getcwd()
    os.chdir(_EMPTY_DIR)
    try:
        try:
            cfg = loads(text, name="fuzz.conf", config_id="node")
        except ConfigError as exc:
            assert exc.diagnostics and all(d.severity in ("error", "warning") for d in exc.diagnostics)
        else:
            assert isinstance(cfg, Config)
        a = analyse("fuzz.conf", "node", text=text, environment=True, interfaces=frozenset({"eth0"}))
        for d in a.diagnostics:
            assert str(d).startswith("fuzz.conf") and f": {d.severity}: " in str(d)
    finally:
        os.chdir(old)
