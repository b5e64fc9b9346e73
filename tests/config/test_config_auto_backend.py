"""``lvs_backend auto`` on a kernel without IPVS takes nftables: what nftables cannot do is said at
``-t`` (a warning at its line) instead of passing and failing only at start."""
from __future__ import annotations

import textwrap
from pathlib import Path

from lvsfast.config import analyse
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.environment import AUTO_NFTABLES_SUFFIX, check_environment, kernel_has_ipvs
from support.config import lvsfast_test

CONF = textwrap.dedent("""\
    global_defs {
        router_id r1
    }
    virtual_server 10.0.0.1 80 {
        lb_algo rr
        lb_kind TUN
        protocol TCP
        real_server 10.0.1.1 80 {
            weight 1
        }
    }
    """)


def _warnings(text: str, has_ipvs: bool) -> list[str]:
    cfg = analyse(None, text=text, environment=False).config
    diags = Diagnostics()
    check_environment(cfg, diags, interfaces=(), has_ipvs=lambda: has_ipvs)
    return [str(d) for d in diags.items if d.message.endswith(AUTO_NFTABLES_SUFFIX)]


def test_tun_under_auto_without_ipvs_is_a_warning_at_its_line():
    assert _warnings(CONF, has_ipvs=False) == [
        "<string>:4: warning: lb_kind TUN needs the IPVS backend (lvs_backend ipvs): the nftables backend "
        "forwards by NAT or DR" + AUTO_NFTABLES_SUFFIX]


def test_nothing_said_with_ipvs_or_an_explicit_backend():
    assert _warnings(CONF, has_ipvs=True) == []
    explicit = CONF.replace("router_id r1", "router_id r1\n    lvs_backend ipvs")
    assert _warnings(explicit, has_ipvs=False) == []


def test_dash_t_on_this_host_keeps_keepalived_exit_status(tmp_path: Path):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF)
    run = lvsfast_test(None, conf)
    assert run.returncode == 0, run.output  # keepalived -t does not look at the kernel
    said = f"{conf}:4: warning: lb_kind TUN needs the IPVS backend" in run.output
    assert said == (not kernel_has_ipvs()), run.output
