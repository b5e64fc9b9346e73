"""The language: blocks, comments, quotes, include, conditionals, definitions, ~SEQ / ~LST."""
from __future__ import annotations

import os
from pathlib import Path

from lvsfast.config import analyse, loads
from lvsfast.config.diagnostics import Diagnostics
from lvsfast.config.reader import Node, read, read_string, tokenize


def flat(nodes, depth=0):
    out = []
    for n in nodes:
        out.append((depth, n.keyword, n.args, n.line))
        if n.children is not None:
            out.extend(flat(n.children, depth + 1))
    return out


def parse(text: str, config_id: str = "node") -> tuple[tuple[Node, ...], Diagnostics]:
    d = Diagnostics()
    return read_string(text, d, name="t.conf", config_id=config_id), d


def test_config_braces_on_shared_lines_and_alone():
    nodes, d = parse("a x {\n b 1\n}\nc {\n d { e }\n}\nf\n{\n g\n}\nh { i } j\n")
    assert not d.items
    assert flat(nodes) == [
        (0, "a", ("x",), 1), (1, "b", ("1",), 2),
        (0, "c", (), 4), (1, "d", (), 5), (2, "e", (), 5),
        (0, "f", (), 7), (1, "g", (), 9),
        (0, "h", (), 11), (1, "i", (), 11), (0, "j", (), 11),
    ]
    assert nodes[0].end_line == 3


def test_config_comments_and_quotes():
    assert tokenize('notify "/bin/x a b" \'c d\'e') == ["notify", "/bin/x a b", "c de"]
    assert tokenize(r'x "a\tb\"c" "\x41\101"') == ["x", 'a\tb"c', "AA"]
    assert tokenize('x "{not a block}"') == ["x", "{not a block}"]
    assert tokenize('x ""') == ["x", ""]
    nodes, _ = parse('a 1 # c\nb 2 ! c\n# all\n! all\nc "x # y" ! z\n')
    assert [(n.keyword, n.args) for n in nodes] == [("a", ("1",)), ("b", ("2",)), ("c", ("x # y",))]


def test_config_conditionals():
    text = "@main a 1\n@backup a 2\n@^main b 1\n@^backup b 2\n"
    assert [(n.keyword, n.args) for n in parse(text, "main")[0]] == [("a", ("1",)), ("b", ("2",))]
    assert [(n.keyword, n.args) for n in parse(text, "backup")[0]] == [("a", ("2",)), ("b", ("1",))]
    assert [(n.keyword, n.args) for n in parse(text, "other")[0]] == [("b", ("1",)), ("b", ("2",))]


def test_config_definitions_and_recursive_substitution():
    text = ("$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n"
            "$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\nx $UNDEF ${UNDEF}\n$E=\ny $E z\n")
    nodes, d = parse(text)
    assert [(n.keyword, n.args) for n in nodes] == [
        ("10.2.0.100/32", ()), ("10.2.10.100/32", ()), ("x", ("$UNDEF", "${UNDEF}")), ("y", ("z",))]


def test_config_definition_with_condition_and_condition_in_definition():
    text = "@main $PRIORITY=240\n@backup $PRIORITY=200\npriority $PRIORITY\n$IF_MAIN=@main\n$IF_MAIN weight 3\n"
    assert [(n.keyword, n.args) for n in parse(text, "main")[0]] == [("priority", ("240",)), ("weight", ("3",))]
    assert [(n.keyword, n.args) for n in parse(text, "backup")[0]] == [("priority", ("200",))]


def test_config_multiline_definition_nested():
    text = """\
$RS= \\
real_server 192.168.${VS_NUM}.${RS_NUM} 80 { \\
    weight 1 \\
}
$VS= \\
virtual_server 10.0.${VS_NUM}.4 80 { \\
    $RS_NUM=1 \\
    $RS \\
    $RS_NUM=2 \\
    $RS \\
}
$VS_NUM=0
$VS
$VS_NUM=1
$VS
"""
    nodes, d = parse(text)
    assert not d.items
    got = [(n.args, [c.args for c in n.children]) for n in nodes]
    assert got == [(("10.0.0.4", "80"), [("192.168.0.1", "80"), ("192.168.0.2", "80")]),
                   (("10.0.1.4", "80"), [("192.168.1.1", "80"), ("192.168.1.2", "80")])]
    # Every statement of an expansion points at the line that used the definition.
    assert {n.line for n in nodes} == {13, 15}


def test_config_seq_and_lst():
    nodes, _ = parse("~SEQ(SUBNET, 0, 3) ip 10.0.${SUBNET}.1\n")
    assert [n.args[0] for n in nodes] == ["10.0.0.1", "10.0.1.1", "10.0.2.1", "10.0.3.1"]
    nodes, _ = parse("~SEQx(S, 0x90, 0x10, 0xc0) fe80::20:${S}:1\n")
    assert [n.keyword for n in nodes] == ["fe80::20:90:1", "fe80::20:a0:1", "fe80::20:b0:1", "fe80::20:c0:1"]
    nodes, _ = parse("~SEQ(N, 3) n$N\n~SEQ(M, 3, 1) m$M\n")
    assert [n.keyword for n in nodes] == ["n1", "n2", "n3", "m3", "m2", "m1"]
    nodes, _ = parse("~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}\n")
    assert [n.keyword for n in nodes] == ["192.168.10.1", "192.170.10.1", "192.168.20.4", "192.170.20.4"]
    nodes, _ = parse("~LST(IP, 1, 2) ~LST(IP1, 5,6) 192.169.${IP}.${IP1}\n")
    assert [n.keyword for n in nodes] == ["192.169.1.5", "192.169.1.6", "192.169.2.5", "192.169.2.6"]


def test_config_predefined():
    nodes, _ = parse("a ${_INSTANCE} ${_HASH} ${_BANG}\nr ${_RANDOM 5 5}\n", "lb1")
    assert [(n.keyword, n.args) for n in nodes] == [("a", ("lb1", "#", "!")), ("r", ("5",))]


def test_config_include_glob_relative_nested(tmp_path: Path):
    (tmp_path / "conf.d" / "sub").mkdir(parents=True)
    (tmp_path / "conf.d" / "b.conf").write_text("b 1\ninclude sub/*.conf\n")
    (tmp_path / "conf.d" / "a.conf").write_text("a 1\n")
    (tmp_path / "conf.d" / "sub" / "c.conf").write_text("\nc ${_PWD}\n")
    (tmp_path / "conf.d" / "skip.txt").write_text("zzz\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("top 1\ninclude conf.d/*.conf\nend 1\n")
    d = Diagnostics()
    nodes = read(str(main), d, "node")
    assert not d.items
    assert [(n.keyword, os.path.basename(n.file), n.line) for n in nodes] == [
        ("top", "keepalived.conf", 1), ("a", "a.conf", 1), ("b", "b.conf", 1), ("c", "c.conf", 2),
        ("end", "keepalived.conf", 3)]
    assert nodes[3].args == (str(tmp_path / "conf.d" / "sub"),)


def test_config_include_problems(tmp_path: Path):
    main = tmp_path / "keepalived.conf"
    main.write_text("include missing/*.conf\ninclude keepalived.conf\ninclude nosuch.conf\n")
    d = Diagnostics()
    read(str(main), d, "node")
    # keepalived 2.2.7: an empty glob is silent, a missing plain file is reported ("Config files
    # missing") without failing -t: a notice.
    assert [(x.line, x.severity) for x in d.items] == [(2, "error"), (3, "notice")]
    assert "include loop" in d.items[0].message and "no file matches" in d.items[1].message


def test_config_block_split_across_include(tmp_path: Path):
    (tmp_path / "body.conf").write_text("    virtual_router_id 9\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("vrrp_instance V {\n    interface lo\ninclude body.conf\n    virtual_ipaddress {\n"
                    "        10.1.1.1\n    }\n}\n")
    a = analyse(str(main), "node")
    assert not a.diagnostics
    assert a.config.vrrp_instances[0].virtual_router_id == 9


def test_config_unreadable_main_file(tmp_path: Path):
    a = analyse(str(tmp_path / "nope.conf"), "node")
    assert len(a.errors) == 1 and "cannot read" in a.errors[0].message


def test_config_generated_instances_are_modelled():
    cfg = loads("""
$VI= \\
vrrp_instance vi_${N} { \\
    interface eth0 \\
    virtual_router_id ${N} \\
    virtual_ipaddress { \\
        10.0.0.${N}/24 \\
    } \\
}
~SEQ(N, 1, 20) $VI
""", config_id="node")
    assert [v.virtual_router_id for v in cfg.vrrp_instances] == list(range(1, 21))
    assert cfg.vrrp_instances[4].virtual_ipaddress[0].cidr == "10.0.0.5/24"


def test_config_include_variants_and_braces(tmp_path: Path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.conf").write_text("a 1\n")
    (tmp_path / "d" / "c.conf").write_text("c 1\n")
    main = tmp_path / "k.conf"
    main.write_text("include d/{a,c}.conf\n")
    d = Diagnostics()
    assert [n.keyword for n in read(str(main), d, "node")] == ["a", "c"] and not d.items
    for text, fatal in (("include d/{a,b}.conf\n", False), ("includeb d/{a,b}.conf\n", True),
                        ("includem nosuch.conf\n", True), ("includew none/*.conf\n", True),
                        ("includem none/*.conf\n", False), ("include nosuch.conf\n", False)):
        main.write_text(text)
        d = Diagnostics()
        read(str(main), d, "node")
        if text.startswith("includem none/"):  # keepalived 2.2.7: an empty glob is silent
            assert not d.items and not d.fatal
            continue
        assert len(d.items) == 1 and d.items[0].line == 1, (text, d.items)
        assert d.fatal == fatal and d.items[0].severity == ("error" if fatal else "notice"), text


def test_the_source_digest_names_every_file_read_and_nothing_random(tmp_path):
    # Two readings of the same files (a child's and the parent's) have the same digest, so the
    # child may use its own; any change of a file, included ones too, changes it.
    from lvsfast.config import load
    inc = tmp_path / "inc.conf"
    inc.write_text("vrrp_script chk { script /bin/true }\n")
    main = tmp_path / "k.conf"
    main.write_text(f"include {inc}\nglobal_defs {{\n    router_id a\n}}\n")
    first = load(str(main), "id1")
    assert first.source_digest and load(str(main), "id1").source_digest == first.source_digest
    assert load(str(main), "id2").source_digest != first.source_digest  # @id lines read differently
    assert load(str(main), "id1", lvs_backend="ipvs").source_digest != first.source_digest
    inc.write_text("vrrp_script chk { script /bin/false }\n")
    assert load(str(main), "id1").source_digest != first.source_digest
    main.write_text("$N=${_RANDOM 1 9}\nglobal_defs {\n    router_id r$N\n}\n")
    assert load(str(main), "id1").source_digest == ""  # two readings may differ


def test_a_definition_naming_itself_across_lines_stops_with_an_error():
    # It doubles at every level: it must end with an error within bounded time and memory
    # (it once took gigabytes), not expand until the machine gives up.
    from lvsfast.config import analyse

    text = ("$VI= \\\nvrrp_instance  VI_1  $VI  \\\nvrrp_instance  VI_1  $VI  \\\n interface eth0 \\\n\n"
            " virtual_router_id 300 \\\n$VI\n")
    a = analyse("t.conf", text=text)
    assert any("recursive definition?" in d.message for d in a.errors)


# The reader recognises definitions, references and replication by hand (no ``re`` on -t's
# path, issue 25); these are the patterns it used to apply, checked against it on many texts.
_DEF_RE = r"[ \t]*\$([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z"
_REF_RE = r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?:[ \t]+[^}]*)?)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=[ \t]|\Z)"


def _texts() -> list[str]:
    import random

    rng = random.Random(25)
    alphabet = ["$", "{", "}", " ", "\t", "A", "b", "_", "9", "=", "x", "~", "(", "é", "\n"]
    fixed = ["$A", "$A ", "${A}", "${A x y}", "${A x", "${ A}", "$9", "$$A b", "${A}${B}", "$A=1", " $A = 1",
             "\t$_x=", "$A=\nb", "${A\t}", "${A}x", "$Ax", "$", "${}", "~SEQ(", "~SEQx(a", "~LST(", "~SEQy("]
    return fixed + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(20000)]


def test_hand_recognisers_match_the_patterns() -> None:
    import re

    from lvsfast.config import reader

    values = {"A": "<a>", "b": "<b>", "_": "<_>", "Ab": "<ab>"}

    class Lookup:
        def _lookup(self, name: str, extra: str) -> str | None:
            return None if name not in values else values[name] + extra

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        value = Lookup()._lookup(name, m.group(2) or "")
        return m.group(0) if value is None else value

    for text in _texts():
        m = re.match(_DEF_RE, text, re.S)
        assert reader._definition(text) == (m.groups() if m else None), text
        assert reader._Reader._substitute_once(Lookup(), text) == re.sub(_REF_RE, repl, text), text  # type: ignore[arg-type]
        m = re.match(r"~(SEQx?|LST)\(", text)
        assert reader._replication(text) == ((m.group(1), m.end()) if m else None), text


def test_hand_value_checks_match_the_patterns() -> None:
    import random
    import re

    from lvsfast.config.blocks.vrrp import _mac
    from lvsfast.config.values import _decimal
    from lvsfast.ipv4text import canonical_ipv4

    octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
    rng = random.Random(25)
    texts = ["", ".", "-", "+.5", "1.", ".5", "1.2.3", "٣.5", "1e3", "0.0.0.0", "255.255.255.255", "256.1.1.1",
             "01.2.3.4", "1.2.3.4\n", "aa:bb:cc:dd:ee", "a:b:c:d:e:f", "aa:bb:cc:dd:ee:ff:00", "aaa:b:c:d:e"]
    texts += ["".join(rng.choice("0123456789.:-+aF٣ ") for _ in range(rng.randint(0, 17))) for _ in range(30000)]
    texts += [".".join(str(rng.randint(0, 300)) for _ in range(4)) for _ in range(2000)]
    for t in texts:
        assert _decimal(t) == bool(re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)", t)), t
        assert canonical_ipv4(t) == bool(re.fullmatch(rf"{octet}(?:\.{octet}){{3}}", t)), t
        assert _mac(t) == bool(re.fullmatch(r"([0-9a-fA-F]{1,2}:){4,5}[0-9a-fA-F]{1,2}", t)), t
