"""The RFC 5880 session state machine: two sessions back to back under a simulated clock (real
codec between them), timers, Poll/Final, jitter, hostile packets, and hypothesis invariants."""
from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lvsfast.bfd import wire
from lvsfast.bfd.events import Dropped, SessionParams, StateChange, Transmit
from lvsfast.bfd.session import Session, jitter_bounds
from lvsfast.bfd.wire import ADMIN_DOWN, DOWN, INIT, UP, ControlPacket
from support.bfd_sim import SimPair

FAST = SessionParams(10_000, 10_000, 1_000_000, 3)  # 10 ms x 3, idle 1 s
SLOW = SessionParams(300_000, 300_000, 1_000_000, 3)


def pkt(state=DOWN, my=0x2222, your=0x1111, tx=10_000, rx=10_000, mult=3, diag=0, **flags) -> ControlPacket:
    return wire.decode(wire.encode(state, diag, mult, my, your, tx, rx, **flags))


def up_pair(pa=FAST, pb=None, **kw) -> SimPair:
    net = SimPair.of(pa, pb, **kw)
    net.run_until(2.0)
    assert net.states() == (UP, UP)
    return net


# ---- coming up --------------------------------------------------------------------------------


def test_two_active_sessions_come_up_at_once_and_settle_at_the_fast_rate():
    net = SimPair.of(FAST)
    net.run_until(0.01)
    # Down -> Init -> Up in a few link delays: state changes are sent at once, not at the idle rate.
    assert net.states() == (UP, UP)
    ups = [t for t, _, ch in net.changes if ch.new == UP]
    assert max(ups) < 0.002
    net.run_until(3.0)
    for s in (net.a, net.b):
        assert not s.polling and s.tx_interval_us == 10_000 and s.detection_time_us == 30_000
        assert s.remote_state == UP and s.diag == 0
    gaps = net.gaps("a", 1.0)
    assert len(gaps) > 150 and min(gaps) >= 0.0075 - 1e-9 and max(gaps) <= 0.010 + 1e-9
    # The handshake's states, in order, on each side.
    for who in "ab":
        assert [ch.new for _, w, ch in net.changes if w == who] == [INIT, UP]


def test_down_packets_go_at_the_idle_rate_while_the_peer_is_silent():
    net = SimPair.of(FAST)
    net.cut("b")
    net.run_until(10.0)
    assert net.a.state == DOWN
    gaps = net.gaps("a", 0.0)
    assert all(0.75 - 1e-9 <= g <= 1.0 + 1e-9 for g in gaps) and len(gaps) >= 9
    assert all(s.pkt.desired_min_tx == 1_000_000 and s.pkt.state == DOWN for s in net.sent if s.by == "a")


def test_passive_sends_nothing_until_it_hears_the_peer():
    passive = SessionParams(10_000, 10_000, 1_000_000, 3, passive=True)
    net = SimPair.of(FAST, passive)
    net.cut("a")
    net.run_until(5.0)
    assert not [s for s in net.sent if s.by == "b"]
    net.restore()
    net.run_until(7.0)
    assert net.states() == (UP, UP)
    first_b = min(s.at for s in net.sent if s.by == "b")
    assert first_b >= 5.0


def test_two_passive_sessions_stay_silent_and_down():
    passive = SessionParams(10_000, 10_000, 1_000_000, 3, passive=True)
    net = SimPair.of(passive)
    net.run_until(10.0)
    assert net.sent == [] and net.states() == (DOWN, DOWN)


def test_timer_negotiation_takes_the_slower_side():
    # a wants 10 ms both ways, b can only receive every 50 ms and sends every 20 ms with mult 5.
    net = up_pair(FAST, SessionParams(20_000, 50_000, 1_000_000, 5))
    assert net.a.tx_interval_us == 50_000  # max(our 10 ms, b's Required Min RX 50 ms)
    assert net.b.tx_interval_us == 20_000  # max(b's 20 ms, a's 10 ms)
    assert net.a.detection_time_us == 5 * 20_000  # b's mult x max(our rx 10 ms, b's tx 20 ms)
    assert net.b.detection_time_us == 3 * 50_000  # a's mult x max(b's rx 50 ms, a's tx 10 ms)
    net.run_for(2.0)
    assert all(0.0375 - 1e-9 <= g <= 0.050 + 1e-9 for g in net.gaps("a", net.now - 1.5))


# ---- going down --------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [FAST, SLOW, SessionParams(10_000, 10_000, 1_000_000, 1)])
def test_loss_is_detected_within_the_detection_time(params):
    net = up_pair(params)
    net.run_for(1.0)
    cut = net.now
    last_rx_a = max(s.at for s in net.sent if s.by == "b") + net.delay
    net.cut()
    net.run_for(2.0)
    downs = {w: (t, ch) for t, w, ch in net.changes if t >= cut}
    for who in "ab":
        t, ch = downs[who]
        assert (ch.old, ch.new, ch.diag) == (UP, DOWN, wire.DIAG_TIME_EXPIRED)
    detection = params.detect_mult * params.desired_min_tx_us / 1e6
    assert downs["a"][0] - last_rx_a == pytest.approx(detection)
    assert downs["a"][0] - cut <= detection + 1e-9
    # The peer is forgotten: Down packets with Your Discriminator 0 at the idle rate.
    assert net.a.remote_disc == 0 and net.a.state == DOWN
    after = [s for s in net.sent if s.by == "a" and s.at > downs["a"][0]]
    assert after and all(s.pkt.your_disc == 0 and s.pkt.desired_min_tx == 1_000_000 for s in after)
    net.restore()
    net.run_for(3.0)
    assert net.states() == (UP, UP)


def test_a_one_way_cut_takes_both_sides_down():
    net = up_pair()
    net.cut("b")  # a no longer hears b
    net.run_for(0.2)
    assert net.a.state == DOWN and net.a.diag == wire.DIAG_TIME_EXPIRED
    # a's Down reaches b, which goes Down signalled by its neighbour.
    assert net.b.state != UP and net.b.diag == wire.DIAG_NEIGHBOR_DOWN


def test_admin_down_is_signalled_then_silence_and_admin_up_comes_back():
    net = up_pair()
    acts = net.a.admin_down(net.now)
    assert StateChange(UP, ADMIN_DOWN, wire.DIAG_ADMIN_DOWN) in acts
    assert wire.decode(next(a for a in acts if isinstance(a, Transmit)).packet).state == ADMIN_DOWN
    net.handle("a", acts)
    t0 = net.now
    net.run_for(2.0)
    assert net.b.state == DOWN and net.b.diag == wire.DIAG_NEIGHBOR_DOWN and net.b.remote_state == ADMIN_DOWN
    a_sent = [s for s in net.sent if s.by == "a" and s.at >= t0]
    assert a_sent and all(s.pkt.state == ADMIN_DOWN for s in a_sent)
    assert 3 <= len(a_sent) <= 4 and max(s.at for s in a_sent) < t0 + 3 * 0.010  # b's detection time of a, then silence
    assert net.a.counters()["dropped_admin_down"] > 0  # b's Down packets meanwhile
    net.handle("a", net.a.admin_up(net.now))
    net.run_for(3.0)
    assert net.states() == (UP, UP)


# ---- Poll / Final ------------------------------------------------------------------------------


def test_slower_tx_waits_for_the_final_and_the_peer_extends_its_detection_first():
    net = up_pair()
    slower = SessionParams(50_000, 10_000, 1_000_000, 3)
    acts = net.a.set_params(slower, net.now)
    poll = wire.decode(acts[0].packet)
    assert poll.poll and not poll.final and poll.desired_min_tx == 50_000
    assert net.a.polling and net.a.tx_interval_us == 10_000  # not yet
    net.handle("a", acts)
    net.run_for(0.001)  # the Final comes straight back
    assert any(s.by == "b" and s.pkt.final for s in net.sent)
    assert not net.a.polling and net.a.tx_interval_us == 50_000
    assert net.b.detection_time_us == 3 * 50_000
    t = net.now
    net.run_for(2.0)
    assert net.states() == (UP, UP) and all(0.0375 - 1e-9 <= g <= 0.05 + 1e-9 for g in net.gaps("a", t + 0.06))


def test_the_poll_repeats_until_a_final_arrives():
    net = up_pair()
    net.cut("b")
    acts = net.a.set_params(SessionParams(20_000, 10_000, 1_000_000, 3), net.now)
    net.handle("a", acts)
    net.run_for(0.025)  # less than a's detection time of b
    polls = [s for s in net.sent if s.by == "a" and s.at >= net.now - 0.025]
    assert len(polls) >= 2 and all(s.pkt.poll for s in polls)
    assert net.a.polling and net.a.tx_interval_us == 10_000
    net.restore()
    net.run_for(0.05)
    assert not net.a.polling and net.a.tx_interval_us == 20_000 and net.states() == (UP, UP)


def test_shorter_required_rx_keeps_the_old_detection_time_until_the_final():
    slow_rx = SessionParams(10_000, 100_000, 1_000_000, 3)
    net = up_pair(slow_rx, FAST)
    assert net.a.detection_time_us == 3 * 100_000
    net.cut("b")  # b's Finals are lost
    net.handle("a", net.a.set_params(FAST, net.now))
    assert net.a.polling and net.a.detection_time_us == 3 * 100_000
    net.restore()
    net.run_for(0.05)
    assert not net.a.polling and net.a.detection_time_us == 3 * 10_000


def test_longer_required_rx_counts_at_once():
    net = up_pair()
    net.handle("a", net.a.set_params(SessionParams(10_000, 100_000, 1_000_000, 3), net.now))
    assert net.a.detection_time_us == 3 * 100_000  # b may slow down before our Final arrives
    net.run_for(1.0)
    assert net.states() == (UP, UP) and net.b.tx_interval_us == 100_000


def test_a_second_change_during_a_poll_is_polled_again():
    net = up_pair()
    net.cut("b")
    net.handle("a", net.a.set_params(SessionParams(20_000, 10_000, 1_000_000, 3), net.now))
    net.handle("a", net.a.set_params(SessionParams(40_000, 10_000, 1_000_000, 3), net.now))
    net.restore()
    net.run_for(0.2)
    assert not net.a.polling and net.a.tx_interval_us == 40_000 and net.states() == (UP, UP)


def test_a_poll_is_answered_with_a_final_at_once_even_without_periodic_transmission():
    s = Session(FAST, 0x1111, 0.0, random.Random(1))
    s.receive(pkt(DOWN, your=0), 0.0)
    s.receive(pkt(UP), 0.001)
    assert s.state == UP
    s.receive(pkt(UP, rx=0), 0.002)  # the peer wants no periodic packets
    assert s.next_deadline() == pytest.approx(0.002 + 0.030)  # only the detection time
    assert s.tick(0.02) == []
    acts = s.receive(pkt(UP, rx=0, poll=True), 0.025)
    final = wire.decode(acts[-1].packet)
    assert final.final and not final.poll and final.state == UP


def test_detect_mult_change_needs_no_poll():
    net = up_pair()
    assert net.a.set_params(SessionParams(10_000, 10_000, 1_000_000, 5), net.now) == []
    net.run_for(0.1)
    assert net.b.detection_time_us == 5 * 10_000 and not net.a.polling


# ---- jitter ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mult", [3, 1])
def test_jitter_spreads_over_the_rfcs_range(mult):
    params = SessionParams(10_000, 10_000, 1_000_000, mult)
    net = up_pair(params, seed=7)
    t = net.now
    net.run_for(60.0)
    lo, hi = jitter_bounds(mult)
    ratios = [g / 0.010 for g in net.gaps("a", t + 0.1)]
    assert len(ratios) > 5000
    assert lo - 1e-9 <= min(ratios) < lo + 0.01 and hi - 0.01 < max(ratios) <= hi + 1e-9
    assert statistics.mean(ratios) == pytest.approx((lo + hi) / 2, abs=0.005)
    # Uniform: each quarter of the range holds about a quarter of the gaps.
    quarters = [sum(lo + q * (hi - lo) / 4 <= r < lo + (q + 1) * (hi - lo) / 4 for r in ratios) / len(ratios)
                for q in range(4)]
    assert all(abs(x - 0.25) < 0.03 for x in quarters)
    assert net.states() == (UP, UP)


# ---- hostile packets ---------------------------------------------------------------------------


def fresh() -> Session:
    return Session(FAST, 0x1111, 0.0, random.Random(3))


@pytest.mark.parametrize("bad, reason", [
    (pkt(INIT, your=0x9999), "your_disc"),
    (pkt(UP, your=0x9999), "your_disc"),
    (ControlPacket(1, 0, UP, False, False, False, False, False, False, 3, 24, 0x2222, 0, 10_000, 10_000, 0),
     "your_disc_zero_state"),
    (ControlPacket(1, 0, INIT, False, False, False, False, False, False, 3, 24, 0x2222, 0, 10_000, 10_000, 0),
     "your_disc_zero_state"),
    (ControlPacket(2, 0, INIT, False, False, False, False, False, False, 3, 24, 0x2222, 0x1111, 1, 1, 0), "version"),
    (ControlPacket(1, 0, INIT, False, False, False, False, False, False, 0, 24, 0x2222, 0x1111, 1, 1, 0), "detect_mult"),
    (ControlPacket(1, 0, INIT, False, False, False, False, False, True, 3, 24, 0x2222, 0x1111, 1, 1, 0), "multipoint"),
    (ControlPacket(1, 0, INIT, False, False, False, False, False, False, 3, 24, 0, 0x1111, 1, 1, 0), "my_disc"),
    (ControlPacket(1, 0, INIT, False, False, False, True, False, False, 3, 26, 0x2222, 0x1111, 1, 1, 0),
     "auth_mismatch"),
    (ControlPacket(1, 0, INIT, True, True, False, False, False, False, 3, 24, 0x2222, 0x1111, 1, 1, 0), "poll_final"),
])
def test_hostile_packets_are_dropped_and_counted(bad, reason):
    s = fresh()
    assert s.receive(bad, 0.1) == [Dropped(reason)]
    assert s.state == DOWN and s.remote_disc == 0 and s.counters()[f"dropped_{reason}"] == 1
    assert s.counters()["received"] == 0


def test_a_stranger_cannot_speak_for_an_established_peer():
    net = up_pair()
    # The right Your Discriminator but another sender's My Discriminator, claiming Down.
    assert net.a.receive(pkt(DOWN, my=0x7777), net.now) == [Dropped("remote_disc")]
    assert net.a.state == UP
    # A peer that restarted says so with Your Discriminator 0, and is believed.
    acts = net.a.receive(pkt(DOWN, my=0x7777, your=0), net.now)
    assert StateChange(UP, DOWN, wire.DIAG_NEIGHBOR_DOWN) in acts


def test_up_packets_alone_never_bring_a_session_up():
    s = fresh()
    for i in range(100):
        s.receive(pkt(UP), i * 0.005)
        s.tick(i * 0.005)
    assert s.state == DOWN
    # Init from the peer is what takes Down to Up (§6.8.6).
    assert StateChange(DOWN, UP, 0) in s.receive(pkt(INIT), 1.0)


def test_decoded_hostile_bytes_never_reach_the_session():
    s = fresh()
    for data in (b"", bytes(24), wire.encode(UP, 0, 3, 0x2222, 0, 1, 1), wire.encode(INIT, 0, 0, 0x2222, 0x1111, 1, 1)):
        with pytest.raises(wire.BfdWireError):
            wire.decode(data)
    assert s.state == DOWN


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        Session(SessionParams(0, 10_000), 1, 0.0, random.Random())
    with pytest.raises(ValueError):
        Session(FAST, 0, 0.0, random.Random())
    with pytest.raises(ValueError):
        Session(SessionParams(10_000, 10_000, 1_000_000, 0), 1, 0.0, random.Random())


def test_state_change_log_line_names_the_diagnostic():
    assert StateChange(UP, DOWN, 1).log_line("bfd1") == \
        "BFD_Instance(bfd1) Up -> Down (Control Detection Time Expired)"
    assert StateChange(INIT, UP, 0).log_line("bfd1") == "BFD_Instance(bfd1) Init -> Up"


# ---- hypothesis: invariants of one session fed anything, and of a pair over a lossy link ---------

MINE, PEER, OTHER = 0x1111, 0x2222, 0x7777
intervals = st.sampled_from([1, 3_300, 10_000, 50_000, 300_000, 1_000_000])
params_st = st.builds(SessionParams, intervals, intervals, st.sampled_from([1_000_000, 2_000_000, 10_000]),
                      st.integers(1, 5), st.booleans(), st.booleans())
# The pair is simulated packet by packet: intervals a simulation can run through quickly.
pair_intervals = st.sampled_from([3_300, 10_000, 50_000, 300_000])
pair_params = st.builds(SessionParams, pair_intervals, pair_intervals, st.sampled_from([1_000_000, 2_000_000]),
                        st.integers(1, 5), st.booleans())
packets = st.builds(
    ControlPacket, st.sampled_from([1, 1, 1, 1, 2]), st.integers(0, 8), st.integers(0, 3), st.booleans(), st.booleans(),
    st.booleans(), st.sampled_from([False] * 7 + [True]), st.sampled_from([False] * 3 + [True]),
    st.sampled_from([False] * 7 + [True]), st.sampled_from([3, 3, 1, 255, 0]), st.just(24),
    st.sampled_from([PEER, PEER, PEER, OTHER, 0]), st.sampled_from([MINE, MINE, 0, 0, OTHER]),
    st.sampled_from([0, 10_000, 50_000, 1_000_000]), st.sampled_from([0, 1, 10_000, 50_000, 1_000_000]), st.just(0))


class SessionInvariants(RuleBasedStateMachine):
    @initialize(params=params_st, seed=st.integers(0, 2**16))
    def start(self, params, seed):
        self.now = 0.0
        self.s = Session(params, MINE, self.now, random.Random(seed))

    def view(self):
        s = self.s
        return (s.state, s.diag, s.remote_state, s.remote_diag, s.remote_disc, s.polling, s.received,
                s.tx_interval_us, s.detection_time_us, s.next_deadline(), s.sent)

    def check_sent(self, acts):
        for a in acts:
            if isinstance(a, Transmit):
                out = wire.decode(a.packet)  # never a packet our own decode would refuse
                assert out.state == self.s.state and out.your_disc == self.s.remote_disc
                assert out.my_disc == MINE and not (out.poll and out.final)
                assert not (self.s.params.passive and self.s.remote_disc == 0)

    @rule(pkt=packets, dt=st.sampled_from([0.0, 0.001, 0.01, 0.5]))
    def receive(self, pkt, dt):
        self.now += dt
        before = self.view()
        acts = self.s.receive(pkt, self.now)
        if any(isinstance(a, Dropped) for a in acts):
            assert len(acts) == 1 and self.view() == before  # a dropped packet changes nothing
            return
        for a in acts:
            if isinstance(a, StateChange) and a.new == UP:
                assert pkt.state in (INIT, UP)  # never Up without the peer's Init or Up
        if pkt.poll:
            assert wire.decode(acts[-1].packet).final
        self.check_sent(acts)

    @rule(data=st.binary(min_size=24, max_size=24))
    def receive_bytes(self, data):
        try:
            pkt = wire.decode(data)
        except wire.BfdWireError:
            return
        before = self.view()
        acts = self.s.receive(pkt, self.now)
        if any(isinstance(a, Dropped) for a in acts):
            assert self.view() == before
        assert not any(isinstance(a, StateChange) and a.new == UP and pkt.state not in (INIT, UP) for a in acts)
        self.check_sent(acts)

    @rule(dt=st.sampled_from([0.0, 0.0005, 0.005, 0.03, 0.4, 3.0]))
    def tick(self, dt):
        self.now += dt
        acts = self.s.tick(self.now)
        assert not any(isinstance(a, StateChange) and a.new == UP for a in acts)
        assert sum(isinstance(a, Transmit) for a in acts) <= 2
        self.check_sent(acts)
        assert self.s.next_deadline() > self.now

    @rule(params=params_st)
    def reconfigure(self, params):
        acts = self.s.set_params(params, self.now)
        assert not any(isinstance(a, StateChange) for a in acts)
        self.check_sent(acts)

    @rule()
    def admin_down(self):
        acts = self.s.admin_down(self.now)
        assert self.s.state == ADMIN_DOWN and not any(isinstance(a, StateChange) and a.new == UP for a in acts)
        self.check_sent(acts)

    @rule()
    def admin_up(self):
        was = self.s.state
        acts = self.s.admin_up(self.now)
        assert self.s.state == (DOWN if was == ADMIN_DOWN else was)
        self.check_sent(acts)

    @invariant()
    def consistent(self):
        if not hasattr(self, "s"):
            return
        s = self.s
        if s.state in (INIT, UP):
            assert s.remote_disc != 0
        assert s.tx_interval_us >= 1 and s.detection_time_us >= 0
        assert s.counters()["dropped"] == sum(s.drops.values())


TestSessionInvariants = SessionInvariants.TestCase
TestSessionInvariants.settings = settings(max_examples=200, stateful_step_count=40, deadline=None,
                                          suppress_health_check=list(HealthCheck))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(pair_params.filter(lambda p: not p.passive), pair_params, st.integers(0, 2**16),
       st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 400)), max_size=30))
def test_a_lossy_pair_never_goes_up_falsely_and_recovers_once_the_link_is_clean(pa, pb, seed, losses):
    # Drop chosen packets (by sender and sequence number) for the first 5 s, then a clean link.
    lost = set(losses)
    counter = {"a": 0, "b": 0}

    def lossy(who):
        def keep(pkt):
            counter[who] += 1
            return (who, counter[who]) not in lost
        return keep

    net = SimPair.of(pa, pb, seed=seed)
    net.links = {"a": lossy("a"), "b": lossy("b")}
    net.run_until(5.0)
    net.restore()
    net.run_until(5.0 + 8 * max(pa.idle_tx_us, pb.idle_tx_us, pa.required_min_rx_us, pb.required_min_rx_us) / 1e6)
    assert net.states() == (UP, UP)
    settled = net.now
    net.run_for(2.0)
    assert not [c for t, _, c in net.changes if t > settled]  # no flap on a clean link
    # Every Up followed a packet from the peer in Init or Up, delivered just then.
    for t, who, ch in net.changes:
        if ch.new == UP:
            peer = "b" if who == "a" else "a"
            assert any(s.by == peer and s.pkt.state in (INIT, UP) and abs(s.at + net.delay - t) < 1e-9 for s in net.sent)
