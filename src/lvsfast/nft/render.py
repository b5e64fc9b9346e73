"""From a desired :class:`Table` to nft commands: pure, no kernel.

Layout of lvsfast's own table (``table ip lvsfast``)::

    map services  { ipv4_addr . inet_proto . inet_service : verdict }   # VIP, protocol, port
    map fwmarks   { mark : verdict }
    chain prerouting/output (nat, dstnat-1): one vmap lookup each, no linear rule list
    per service, chain S with the scheduling rule and:
      map S_m  slot -> real server (ranges of weight for rr/wrr/random/sh/dh; a Maglev table for mh)
      set S_d  every real server with its weight (weight 0 included), so read() can rebuild the Table
      persistence: map S_v slot -> goto S_<rs>, a timed set S_p_<rs> of clients per real server

NAT chains see only a connection's first packet, so a server leaving the maps gets no new
connections while conntrack keeps the established ones flowing to it.

Direct routing (``lb_kind DR``) is stateless instead: a ``raw``-priority chain ``dr`` looks each
packet up in ``dr_services``, the service chain duplicates it unchanged to the real server its
hash picks (``dup to``: the real server as next hop, as IPVS's DR does) and drops the original,
without conntrack. With ``mh``, every director holding the same configured servers builds the
same Maglev table, so a flow that ECMP moves to another director mid-stream reaches the same real
server (the scale-out case, docs/scale-out.md). What it cannot do: persistence, fwmark services,
a weight-0 server keeping its established flows (nothing remembers them).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from typing import Iterable, Mapping

from lvsfast.dataplane.model import Dest, DestKey, Service, ServiceKey, Table

TABLE = "lvsfast"
SEED = 0x4C56  # fixed, so a hash keeps clients where they were when a rule is rewritten
# mh's table sizes: primes of IPVS's list, 4093 its default; the last is the most lvsfast
# builds (Maglev's 1% balance up to 655 servers). MAGLEV_BITS: IPVS's IP_VS_MH_TAB_BITS for each.
MAGLEV_SIZES = (4093, 16381, 65521)
MAGLEV_BITS = {4093: 6, 16381: 7, 65521: 8}
PERSIST_SIZE = 1 << 20
COMMENT = "lvsfast"

Dests = Mapping[DestKey, Dest]


def chain_name(key: ServiceKey) -> str:
    if key.fwmark:
        return f"f_{key.fwmark}"
    return f"s_{key.protocol}_{key.address.replace('.', '_')}_{key.port}"


def dest_tag(key: DestKey) -> str:
    return f"{key.address.replace('.', '_')}_{key.port}"


def active(dests: Dests) -> list[Dest]:
    """Servers that take new connections, in a stable order."""
    return sorted((d for d in dests.values() if d.weight > 0), key=lambda d: d.key)


def ranges(svc: Service, dests: Dests) -> tuple[int, list[tuple[int, int, Dest]]]:
    """Weights as consecutive ranges of ``0..total-1`` (rr: every server one slot)."""
    out: list[tuple[int, int, Dest]] = []
    lo = 0
    for d in active(dests):
        w = 1 if svc.scheduler == "rr" else d.weight
        out.append((lo, lo + w - 1, d))
        lo += w
    return lo, out


def maglev_size(n: int) -> int:
    """mh's table size for a service of at most ``n`` servers: the first of MAGLEV_SIZES that
    is at least 100 n (Maglev's rule for shares within 1% of each other), at most the last."""
    return next((m for m in MAGLEV_SIZES if m >= 100 * n), MAGLEV_SIZES[-1])


def table_size(svc: Service, dests: Dests) -> int:
    """Fixed per configuration: the configured real servers plus one (a sorry server), never
    the live count, so a server leaving or joining never changes it."""
    bound = len(svc.configured) + 1 if svc.configured else 0
    return maglev_size(max(bound, len(dests)))


def turns(weights: list[int], size: int) -> list[int]:
    """Slots a server claims per round, as IPVS mh counts them: weights over their gcd, shifted
    right until the largest fits in MAGLEV_BITS bits; a positive weight claims at least one."""
    pos = [w for w in weights if w > 0]
    if not pos:
        return [0] * len(weights)
    g = gcd(*pos)
    shift = max(0, (max(pos) // g).bit_length() - MAGLEV_BITS[size])
    return [(((w // g) >> shift) or 1) if w > 0 else 0 for w in weights]


def _order(k: DestKey) -> tuple[int, ...]:
    return (*map(int, k.address.split(".")), k.port)


def permutation(k: DestKey, size: int) -> tuple[int, int]:
    """A server's offset and skip: CRC-32 of "o" or "s" and "address:port" (docs/keywords.md)."""
    name = f"{k.address}:{k.port}".encode()
    return zlib.crc32(b"o" + name) % size, zlib.crc32(b"s" + name) % (size - 1) + 1


@lru_cache(maxsize=64)
def _fill(servers: tuple[tuple[DestKey, int], ...], size: int) -> tuple[tuple[DestKey, ...], tuple[int, ...]]:
    """Maglev's population: in rounds, each server (by address, then port) takes its turns of
    its next preferred free slots. The servers, and each slot's as an index among them (an int
    compares without hashing a key). Cached: the configured servers rarely change."""
    ds = sorted(((k, w) for k, w in servers if w > 0), key=lambda kw: _order(kw[0]))
    if not ds:
        return (), ()
    tn = turns([w for _, w in ds], size)
    perm = [permutation(k, size) for k, _ in ds]
    nxt = [0] * len(ds)
    table = [-1] * size
    filled = 0
    while True:
        for i in range(len(ds)):
            off, skip = perm[i]
            for _ in range(tn[i]):
                while True:
                    c = (off + nxt[i] * skip) % size
                    nxt[i] += 1
                    if table[c] < 0:
                        break
                table[c] = i
                filled += 1
                if filled == size:
                    return tuple(k for k, _ in ds), tuple(table)


def maglev(dests: Iterable[Dest], size: int) -> list[DestKey]:
    """Plain Maglev over ``dests`` (weight 0: out)."""
    keys, idx = _fill(tuple(sorted((d.key, d.weight) for d in dests)), size)
    return [keys[i] for i in idx]


def fallback_step(slot: int, size: int) -> int:
    return zlib.crc32(b"f" + slot.to_bytes(4, "big")) % (size - 1) + 1


def mh_table(svc: Service, dests: Dests, size: int) -> list[DestKey]:
    """mh's lookup table: Maglev over the configured servers (live ones at their live weight),
    then each slot whose server is not live goes to the first live server met at
    slot + j * fallback_step(slot), j = 1, 2, ... A server that leaves or joins by its checks
    thus changes only the slots that are (or become) its own."""
    live = {d.key for d in dests.values() if d.weight > 0}
    if not live:
        return []
    base = dict(svc.configured)
    base.update((d.key, d.weight) for d in dests.values() if d.weight > 0)
    keys, full = _fill(tuple(sorted(base.items())), size)
    up = [k in live for k in keys]
    if all(up):
        return [keys[i] for i in full]
    out = list(full)
    for s, i in enumerate(full):
        if up[i]:
            continue
        step = fallback_step(s, size)
        p = s
        for _ in range(size - 1):  # a prime size: the walk meets every slot
            p += step
            if p >= size:
                p -= size
            if up[full[p]]:
                out[s] = full[p]
                break
    return [keys[i] for i in out]


def _proto_match(key: ServiceKey) -> str:
    return "" if key.fwmark else f"meta l4proto {key.protocol} "


def is_dr(svc: Service) -> bool:
    return svc.forward == "dr"


def _data_type(svc: Service) -> str:
    key = svc.key
    return "ip daddr" if key.fwmark or is_dr(svc) else f"ip daddr . {key.protocol} dport"


def _target(svc: Service, d: Dest) -> str:
    return d.key.address if svc.key.fwmark or is_dr(svc) else f"{d.key.address} . {d.key.port}"


def _hash_expr(svc: Service) -> str:
    s, key = svc.scheduler, svc.key
    if s in ("rr", "wrr"):
        return "numgen inc"
    if s == "random":
        return "numgen random"
    field = "ip daddr" if s == "dh" else "ip saddr"
    if f"{s}-port" in svc.flags and not key.fwmark:
        field += f" . {key.protocol} sport"
    return f"jhash {field}"


def _comment(svc: Service) -> str:
    flags = ",".join(sorted(svc.flags))
    fwd = " fwd=dr" if is_dr(svc) else ""
    return (f'comment "{COMMENT} sched={svc.scheduler} pt={svc.persistence_timeout} '
            f'pg={svc.persistence_granularity} flags={flags}{fwd}"')


def parse_comment(text: str) -> dict[str, str] | None:
    parts = text.split()
    if not parts or parts[0] != COMMENT:
        return None
    return dict(p.split("=", 1) for p in parts[1:] if "=" in p)


def _client(svc: Service) -> str:
    g = svc.persistence_granularity
    if g >= 32:
        return "ip saddr"
    mask = (0xFFFFFFFF << (32 - g)) & 0xFFFFFFFF
    return f"ip saddr & {mask >> 24}.{(mask >> 16) & 255}.{(mask >> 8) & 255}.{mask & 255}"


@dataclass(frozen=True, slots=True)
class Slots:
    """What S_m (or S_v) holds: interval elements or a Maglev table, and the modulus."""

    mod: int
    interval: bool
    elems: tuple[tuple[int, int, DestKey], ...]


def slots(svc: Service, dests: Dests) -> Slots:
    if svc.scheduler == "mh":
        size = table_size(svc, dests)
        table = mh_table(svc, dests, size)
        return Slots(size if table else 0, False, tuple((i, i, k) for i, k in enumerate(table)))
    total, rs = ranges(svc, dests)
    return Slots(total, True, tuple((lo, hi, d.key) for lo, hi, d in rs))


class Script:
    """Accumulates one transaction's commands."""

    def __init__(self, table: str = TABLE) -> None:
        self.t = f"ip {table}"
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def skeleton(sc: Script) -> None:
    t = sc.t
    sc.add(f"add table {t}")
    sc.add(f"add map {t} services {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}")
    sc.add(f"add map {t} fwmarks {{ type mark : verdict ; }}")
    for hook, prio in (("prerouting", "dstnat - 1"), ("output", "-101")):
        sc.add(f"add chain {t} {hook} {{ type nat hook {hook} priority {prio} ; policy accept ; }}")
        sc.add(f"add rule {t} {hook} meta mark vmap @fwmarks")
        sc.add(f"add rule {t} {hook} ip daddr . meta l4proto . th dport vmap @services")
    sc.add(f"add map {t} dr_services {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}")
    sc.add(f"add chain {t} dr {{ type filter hook prerouting priority raw ; policy accept ; }}")
    sc.add(f"add rule {t} dr ip daddr . meta l4proto . th dport vmap @dr_services")


def _elem(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _fill_slots(sc: Script, svc: Service, dests: Dests, s: Slots, persist: bool) -> None:
    c = chain_name(svc.key)
    if not s.elems:
        return
    if persist:
        body = ", ".join(f"{_elem(lo, hi)} : goto {c}_{dest_tag(k)}" for lo, hi, k in s.elems)
        sc.add(f"add element {sc.t} {c}_v {{ {body} }}")
    else:
        body = ", ".join(f"{_elem(lo, hi)} : {_target(svc, dests[k])}" for lo, hi, k in s.elems)
        sc.add(f"add element {sc.t} {c}_m {{ {body} }}")


def _rules(sc: Script, svc: Service, dests: Dests, s: Slots) -> None:
    """The service chain's rules (the chain is empty or just flushed)."""
    t, key, c = sc.t, svc.key, chain_name(svc.key)
    if not s.mod:
        sc.add(f"add rule {t} {c} drop {_comment(svc)}")
        return
    seed = "" if svc.scheduler in ("rr", "wrr", "random") else f" seed {SEED:#x}"
    pick = f"{_hash_expr(svc)} mod {s.mod}{seed}"
    if is_dr(svc):
        # Every packet, unchanged, to the picked server; the original goes no further.
        sc.add(f"add rule {t} {c} {_proto_match(key)}notrack dup to {pick} map @{c}_m {_comment(svc)}")
        sc.add(f"add rule {t} {c} drop")
    elif svc.persistence_timeout:
        cl = _client(svc)
        for d in active(dests):
            sc.add(f"add rule {t} {c} {cl} @{c}_p_{dest_tag(d.key)} goto {c}_{dest_tag(d.key)}")
        sc.add(f"add rule {t} {c} {pick} vmap @{c}_v {_comment(svc)}")
    else:
        sc.add(f"add rule {t} {c} {_proto_match(key)}dnat to {pick} map @{c}_m {_comment(svc)}")


def _dest_chain(sc: Script, svc: Service, d: Dest) -> None:
    t, c, tag = sc.t, chain_name(svc.key), dest_tag(d.key)
    sc.add(f"add set {t} {c}_p_{tag} {{ type ipv4_addr ; flags dynamic,timeout ; "
           f"timeout {svc.persistence_timeout}s ; size {PERSIST_SIZE} ; }}")
    sc.add(f"add chain {t} {c}_{tag}")
    port = "" if svc.key.fwmark else f":{d.key.port}"
    sc.add(f"add rule {t} {c}_{tag} update @{c}_p_{tag} {{ {_client(svc)} }} "
           f"{_proto_match(svc.key)}dnat to {d.key.address}{port}")


def _drop_dest_chain(sc: Script, svc: Service, key: DestKey) -> None:
    c, tag = chain_name(svc.key), dest_tag(key)
    sc.add(f"flush chain {sc.t} {c}_{tag}")  # a chain with rules cannot be deleted
    sc.add(f"delete chain {sc.t} {c}_{tag}")
    sc.add(f"delete set {sc.t} {c}_p_{tag}")


def _dest_elems(dests: Iterable[Dest]) -> str:
    return ", ".join(f"{d.key.address} . {d.key.port} . {d.weight}" for d in dests)


def differs(a: Service, b: Service) -> bool:
    """``a != b``, and for mh the configured servers too (Service leaves them out of ==)."""
    return a != b or a.configured != b.configured or a.forward != b.forward


def _universe(sc: Script, svc: Service) -> None:
    """mh's configured servers, in set S_u, so a table read back builds the same lookup table."""
    c = chain_name(svc.key)
    sc.add(f"add set {sc.t} {c}_u {{ type ipv4_addr . inet_service . mark ; }}")
    sc.add(f"flush set {sc.t} {c}_u")
    if svc.configured:
        body = ", ".join(f"{k.address} . {k.port} . {w}" for k, w in svc.configured)
        sc.add(f"add element {sc.t} {c}_u {{ {body} }}")


def _slot_map(sc: Script, svc: Service, s: Slots) -> None:
    c = chain_name(svc.key)
    flags = " flags interval ;" if s.interval else ""
    if svc.persistence_timeout:
        sc.add(f"add map {sc.t} {c}_v {{ typeof numgen inc mod 1 : verdict ;{flags} }}")
    else:
        sc.add(f"add map {sc.t} {c}_m {{ typeof numgen inc mod 1 : {_data_type(svc)} ;{flags} }}")


def _jump_elem(svc: Service) -> tuple[str, str]:
    key = svc.key
    if key.fwmark:
        return "fwmarks", str(key.fwmark)
    return "dr_services" if is_dr(svc) else "services", f"{key.address} . {key.protocol} . {key.port}"


def create(sc: Script, svc: Service, dests: Dests, *, with_chain: bool = True) -> None:
    t, c = sc.t, chain_name(svc.key)
    s = slots(svc, dests)
    if with_chain:
        # Flushed after adding: after an outside deletion of the jump, parts may still be there.
        sc.add(f"add chain {t} {c}")
        sc.add(f"flush chain {t} {c}")
    sc.add(f"add set {t} {c}_d {{ type ipv4_addr . inet_service . mark ; }}")
    sc.add(f"flush set {t} {c}_d")
    if dests:
        sc.add(f"add element {t} {c}_d {{ {_dest_elems(dests.values())} }}")
    if svc.scheduler == "mh":
        _universe(sc, svc)
    if svc.persistence_timeout:
        for d in active(dests):
            _dest_chain(sc, svc, d)
    # After the chains its verdicts name: nft resolves them when the map is declared.
    _slot_map(sc, svc, s)
    sc.add(f"flush map {t} {c}_v" if svc.persistence_timeout else f"flush map {t} {c}_m")
    _fill_slots(sc, svc, dests, s, bool(svc.persistence_timeout))
    _rules(sc, svc, dests, s)
    if with_chain:
        m, k = _jump_elem(svc)
        sc.add(f"add element {t} {m} {{ {k} : jump {c} }}")


def _drop_parts(sc: Script, svc: Service, dests: Dests) -> None:
    """Everything of a service but its chain (which must already be flushed)."""
    t, c = sc.t, chain_name(svc.key)
    if svc.persistence_timeout:
        sc.add(f"delete map {t} {c}_v")
        for d in active(dests):
            _drop_dest_chain(sc, svc, d.key)
    else:
        sc.add(f"delete map {t} {c}_m")
    sc.add(f"delete set {t} {c}_d")
    if svc.scheduler == "mh":
        # Added first: a table written before S_u existed has none to delete.
        sc.add(f"add set {t} {c}_u {{ type ipv4_addr . inet_service . mark ; }}")
        sc.add(f"delete set {t} {c}_u")


def delete(sc: Script, svc: Service, dests: Dests) -> None:
    t, c = sc.t, chain_name(svc.key)
    m, k = _jump_elem(svc)
    sc.add(f"delete element {t} {m} {{ {k} }}")
    sc.add(f"flush chain {t} {c}")
    _drop_parts(sc, svc, dests)
    sc.add(f"delete chain {t} {c}")


def update(sc: Script, old_svc: Service, old: Dests, svc: Service, new: Dests) -> None:
    """Change one service in place: its chain (and so the jump to it) stays."""
    t, c = sc.t, chain_name(svc.key)
    if old_svc != svc:
        sc.add(f"flush chain {t} {c}")
        _drop_parts(sc, old_svc, old)
        create(sc, svc, new, with_chain=False)
        return
    # Only real servers changed: rewrite the rule and slots, edit the weight set element-wise.
    gone = [d for k, d in old.items() if new.get(k) != d]
    came = [d for k, d in new.items() if old.get(k) != d]
    if gone:
        sc.add(f"delete element {t} {c}_d {{ {_dest_elems(gone)} }}")
    if came:
        sc.add(f"add element {t} {c}_d {{ {_dest_elems(came)} }}")
    # mh's configured servers changed (a reload, or a table written before lvsfast kept them):
    # the whole lookup table and its rule are written again, never patched from a guessed old one.
    resync = old_svc.configured != svc.configured
    if resync:
        _universe(sc, svc)
    s_old, s_new = slots(old_svc, old), slots(svc, new)
    persist = bool(svc.persistence_timeout)
    rewrite = s_old.mod != s_new.mod or persist or resync
    if rewrite:
        sc.add(f"flush chain {t} {c}")
    if persist:
        # Nothing may still jump to a dest chain that goes: the slot verdict map is refilled below.
        sc.add(f"flush map {t} {c}_v")
        was = {d.key for d in active(old)}
        now = {d.key: d for d in active(new)}
        for k in was - now.keys():
            _drop_dest_chain(sc, svc, k)
        for k in now.keys() - was:
            _dest_chain(sc, svc, now[k])
    mapname = f"{c}_v" if persist else f"{c}_m"
    if not s_new.interval and not rewrite:
        # Maglev: only the slots that moved.
        changed = [(o, n) for o, n in zip(s_old.elems, s_new.elems) if o != n]
        if changed:
            sc.add(f"delete element {t} {mapname} {{ {', '.join(str(o[0]) for o, _ in changed)} }}")
            body = ", ".join(f"{n[0]} : {_target(svc, new[n[2]])}" for _, n in changed)
            sc.add(f"add element {t} {mapname} {{ {body} }}")
    elif s_old.elems != s_new.elems or rewrite:
        if not persist:
            sc.add(f"flush map {t} {mapname}")
        _fill_slots(sc, svc, new, s_new, persist)
    if rewrite:
        _rules(sc, svc, new, s_new)


def transaction(current: Table, desired: Table, *, exists: bool, table: str = TABLE) -> str:
    """One nft script turning ``current`` (what our table holds) into ``desired``."""
    sc = Script(table)
    if not exists:
        skeleton(sc)
    empty: dict[DestKey, Dest] = {}
    for key, svc in desired.services.items():
        new = desired.dests.get(key, empty)
        have = current.services.get(key)
        if have is None:
            create(sc, svc, new)
        else:
            old = current.dests.get(key, empty)
            if have.forward != svc.forward:
                # Another jump map, another map type: written again whole.
                delete(sc, have, old)
                create(sc, svc, new)
            elif differs(have, svc) or dict(old) != dict(new):
                update(sc, have, old, svc, new)
    for key, svc in current.services.items():
        if key not in desired.services:
            delete(sc, svc, current.dests.get(key, empty))
    return sc.text()
