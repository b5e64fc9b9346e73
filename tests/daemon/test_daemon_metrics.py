"""The Prometheus endpoint: off by default, on loopback when asked, the same figures as status."""
from __future__ import annotations

import time

from lvsfast.daemon.metrics import parse_listen
from lvsfast.lab.netns import wait_for
from support.netns import lab  # noqa: F401  (fixture)
from support.vrrp_lab import VrrpLab, instance_conf

FETCH = "import urllib.request,sys;print(urllib.request.urlopen(sys.argv[1],timeout=2).read().decode())"


def test_parse_listen():
    assert parse_listen("9650") == ("127.0.0.1", 9650)
    assert parse_listen("0.0.0.0:9650") == ("0.0.0.0", 9650)
    assert parse_listen("[::1]:9650") == ("::1", 9650)


def test_metrics_endpoint(lab, tmp_path):
    v = VrrpLab.build(lab, tmp_path, n=1)
    r = v.start_lvsfast("r1", instance_conf(priority=150, advert_int=0.1), extra_args=("--metrics", "9650"))
    v.wait_master("r1")

    def scrape():
        out = r.ns.run("python3", "-c", FETCH, "http://127.0.0.1:9650/metrics", check=False)
        return out.stdout if 'lvsfast_vrrp_state{instance="VI_1",state="MASTER"} 1.0' in out.stdout else None

    text = wait_for(scrape, timeout=10, what="metrics showing VI_1 as MASTER")
    assert 'lvsfast_child_up{child="vrrp"} 1.0' in text
    assert "lvsfast_vrrp_adverts_sent_total" in text
    # Loopback only: the router's own address does not answer.
    out = r.ns.run("python3", "-c", FETCH, "http://10.0.0.1:9650/metrics", check=False)
    assert out.returncode != 0
