"""keepalived_dump's rendering, against lines keepalived 2.2.7 wrote for advert_int 0.5 (version 3)."""
from __future__ import annotations

import json

from lvsfast.daemon.keepalived_dump import render_data, render_json, render_stats
from lvsfast.vrrp.dump_fields import seconds

# keepalived 2.2.7's keepalived.json for a MASTER with advert_int 0.5, version 3, one VIP.
KEEPALIVED_JSON = (
    '[{"data":{"iname":"VI_1","dont_track_primary":0,"skip_check_adv_addr":0,"strict_mode":0,"vmac_ifname":"",'
    '"ifp_ifname":"veth0","master_priority":0,"last_transition":1796367413.512111,"garp_delay":2,"garp_refresh":0,'
    '"garp_rep":5,"garp_refresh_rep":1,"garp_lower_prio_delay":5,"garp_lower_prio_rep":5,"lower_prio_no_advert":0,'
    '"higher_prio_send_advert":0,"vrid":51,"base_priority":150,"effective_priority":150,"vipset":true,'
    '"promote_secondaries":false,"adver_int":0.5,"master_adver_int":0.5,"accept":1,"nopreempt":false,'
    '"preempt_delay":0,"state":2,"wantstate":2,"version":3,"smtp_alert":false,"notify_deleted":false,'
    '"vips":["10.77.0.100\\/24 dev veth0 scope global set"],"auth_type":0},"stats":{"advert_rcvd":0,'
    '"advert_sent":5,"become_master":1,"release_master":0,"packet_len_err":0,"advert_interval_err":0,'
    '"ip_ttl_err":0,"invalid_type_rcvd":0,"addr_list_err":0,"invalid_authtype":0,"authtype_mismatch":0,'
    '"auth_failure":0,"pri_zero_rcvd":0,"pri_zero_sent":0}}]\n')


def _status():
    ka = json.loads(KEEPALIVED_JSON)[0]
    text = {"src_ip": "10.77.0.1", "mcast": "224.0.0.18", "peers": [], "down_timer_adverts": 3}
    return {"instances": {"VI_1": {"state": "MASTER", "master": "10.77.0.1",
                                   "keepalived": {"data": ka["data"], "stats": ka["stats"], "text": text}}}}


def test_json_is_written_as_keepalived_writes_it():
    assert seconds(50) == 0.5 and seconds(100) == 1 and isinstance(seconds(100), int)
    assert render_json(_status()) == KEEPALIVED_JSON


def test_data_and_stats_lines():
    data = render_data(_status()).splitlines()
    assert data[:3] == ["------< VRRP Topology >------", " VRRP Instance = VI_1", "   VRRP Version = 3"]
    assert "   State = MASTER" in data and "   Advert interval = 500 milli-sec" in data
    assert "     10.77.0.100/24 dev veth0 scope global set" in data
    stats = render_stats(_status()).splitlines()
    assert stats[:4] == ["VRRP Instance: VI_1", "  Advertisements:", "    Received: 0", "    Sent: 5"]


def test_no_vrrp_child_writes_empty_files():
    assert render_json({}) == "" and render_stats({}) == ""  # and no keepalived.json, as keepalived
