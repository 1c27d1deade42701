"""A table of bad and hostile input across every command: each case must exit
non-zero with exactly one `Error` line on stderr and no traceback, and leave the
store, the kernel's links and the run root exactly as they were.

One store for the whole module (a network and a running container), so the
table stays cheap; the last test prints how many cases ran.
"""

from __future__ import annotations

import pytest
from hostile import NETWORK, RUNNING, assert_refused, hostile_store, state

busy = pytest.fixture(scope="module")(hostile_store)  # one store for the module

# Control characters a value may carry (NUL cannot: argv strings end at it).
CONTROLS = {"nl": "\n", "cr": "\r", "tab": "\t", "esc": "\x1b", "del": "\x7f"}
# A 64-character "ID" that is a path, and other refs that must never become paths.
PATH_REFS = {
    "dotdot-64": "../.." + "/" * 52 + "/evil/x",
    "etc-passwd": "../../../../etc/passwd",
    "dot": ".",
    "dotdot": "..",
    "slash": "a/b",
    "absolute": "/etc/passwd",
    "upper-hex-64": "A" * 64,
    "newline": "busy\nbusy",
}


def _run_create_values() -> dict[str, list[str]]:
    """run/create flags and a template for a bad value (`{c}`: the control character)."""
    return {
        "hostname": ["--hostname", "h{c}x"],
        "dns-search": ["--dns-search", "example.test{c}nameserver 6.6.6.6"],
        "dns-option": ["--dns-option", "ndots:1{c}nameserver 6.6.6.6"],
        "add-host-name": ["--add-host", "db{c}x:10.1.2.3"],
        "add-host-ip": ["--add-host", "db:fe80::1%x{c}y"],
        "name": ["--name", "n{c}x"],
        "network": ["--network", NETWORK + "{c}"],
        "alias": ["--network", NETWORK, "--network-alias", "a{c}b"],
        "env-key": ["-e", "K{c}EY=1"],
        "dns": ["--dns", "fe80::1%x{c}nameserver 6.6.6.6"],
        "mac": ["--mac-address", "02:42:ac:11:00:0{c}"],
        "ip": ["--network", NETWORK, "--ip", "172.18.0.9{c}"],
        "ip6": ["--network", NETWORK, "--ip6", "fe80::9%{c}"],
        "link": ["--link", RUNNING + "{c}:alias"],
        "publish": ["-p", "8080:80{c}"],
        "publish-ip": ["-p", "127.0.0.1{c}:8080:80"],
        "publish-long": ["-p", "target=80,published=8080{c}"],
        "expose": ["--expose", "80{c}"],
    }


# Refused by Docker's CLI itself, so `create` exits 125 for them too.
CLI_PARSED = ("publish", "publish-ip", "publish-long", "expose")


def _network_create_values() -> dict[str, list[str]]:
    return {
        "name": ["net{c}x"],
        "opt-key": ["-o", "com.docker.network.bridge{c}.name=x", "n1"],
        "opt-value": ["-o", "com.docker.network.bridge.name=br{c}x", "n1"],
        "label-key": ["--label", "k{c}=v", "n1"],
        "subnet": ["--subnet", "10.77.0.0/24{c}", "n1"],
        "gateway": ["--subnet", "10.77.0.0/24", "--gateway", "10.77.0.1{c}", "n1"],
        "ip-range": ["--subnet", "10.77.0.0/24", "--ip-range", "10.77.0.0/25{c}", "n1"],
        "aux-address": ["--subnet", "10.77.0.0/24", "--aux-address", "r{c}=10.77.0.2", "n1"],
        "ipam-opt": ["--ipam-opt", "k{c}=v", "n1"],
        "driver": ["-d", "bridge{c}", "n1"],
    }


def _cases() -> list[tuple[str, list[str], int | None]]:
    cases: list[tuple[str, list[str], int | None]] = []
    for cname, char in CONTROLS.items():
        for flag, template in _run_create_values().items():
            args = [part.replace("{c}", char) for part in template]
            cases.append((f"run {flag} {cname}", ["run", "-d", *args, "sleep", "60"], 125))
            if cname == "nl":
                cases.append((f"create {flag} {cname}", ["create", *args, "sleep", "60"],
                              125 if flag in CLI_PARSED else 1))
        for flag, template in _network_create_values().items():
            args = [part.replace("{c}", char) for part in template]
            cases.append((f"network create {flag} {cname}", ["network", "create", *args], None))
    for rname, ref in PATH_REFS.items():
        for verb in (["start"], ["stop"], ["restart"], ["kill"], ["rm"], ["rm", "-f"], ["wait"],
                     ["logs"], ["inspect"], ["inspect", "--type", "container"], ["port"],
                     ["exec", "-d"], ["network", "connect", NETWORK],
                     ["network", "disconnect", NETWORK]):
            tail = ["true"] if verb[0] == "exec" else []
            cases.append((f"{' '.join(verb)} {rname}", [*verb, ref, *tail], None))
        for verb in (["network", "rm"], ["network", "inspect"]):
            cases.append((f"{' '.join(verb)} {rname}", [*verb, ref], None))
        cases.append((f"network connect net-{rname}", ["network", "connect", ref, RUNNING], None))
        cases.append((f"run --network {rname}", ["run", "-d", "--network", ref, "sleep", "60"],
                      125))
        cases.append((f"run --network container:{rname}",
                      ["run", "-d", "--network", f"container:{ref}", "sleep", "60"], 125))
        cases.append((f"run --link {rname}", ["run", "-d", "--link", ref, "sleep", "60"], 125))
        cases.append((f"internal exited {rname}", ["internal", "exited", ref, "0", "1"], 1))
        for verb in (["rmi"], ["image", "rm", "-f"], ["image", "inspect"],
                     ["inspect", "--type", "image"], ["import", "/nonexistent.tar"]):
            cases.append((f"{' '.join(verb)} {rname}", [*verb, ref], 1))
    cases.extend(OTHER_CASES)
    return cases


RUN = ["run", "-d"]
OTHER_CASES: list[tuple[str, list[str], int | None]] = [
    # run / create
    ("run no command", ["run", "-d"], 125),
    ("run relative workdir", [*RUN, "-w", "relative/dir", "true"], 125),
    ("create relative workdir", ["create", "-w", "relative/dir", "true"], 1),
    ("run env empty key", [*RUN, "-e", "=x", "true"], 125),
    ("run env empty", [*RUN, "-e", "", "true"], 125),
    ("create env empty key", ["create", "-e", "=x", "true"], 1),
    ("run hostname underscore", [*RUN, "--hostname", "my_host", "true"], 125),
    ("run hostname leading dash", [*RUN, "--hostname", "-h", "true"], 125),
    ("run hostname trailing dot", [*RUN, "--hostname", "h.", "true"], 125),
    ("run hostname too long", [*RUN, "--hostname", "h" * 65, "true"], 125),
    ("run hostname space", [*RUN, "--hostname", "a b", "true"], 125),
    ("run dns-search no letter", [*RUN, "--dns-search", "123", "true"], 125),
    ("run dns-search space", [*RUN, "--dns-search", "a b", "true"], 125),
    ("run dns-search slash", [*RUN, "--dns-search", "a/b", "true"], 125),
    ("run dns not an ip", [*RUN, "--dns", "notanip", "true"], 125),
    ("run dns zone", [*RUN, "--dns", "fe80::1%eth0", "true"], 125),
    ("run add-host no ip", [*RUN, "--add-host", "db", "true"], 125),
    ("run add-host bad ip", [*RUN, "--add-host", "db:1.2.3", "true"], 125),
    ("run add-host empty name", [*RUN, "--add-host", ":1.2.3.4", "true"], 125),
    ("run ip malformed", [*RUN, "--network", NETWORK, "--ip", "10.0.0.300", "true"], 125),
    ("run ip is v6", [*RUN, "--network", NETWORK, "--ip", "fe80::1", "true"], 125),
    ("run ip6 is v4", [*RUN, "--network", NETWORK, "--ip6", "10.0.0.1", "true"], 125),
    ("run ip outside subnet", [*RUN, "--network", NETWORK, "--ip", "10.99.0.5", "true"], 125),
    ("run mac short", [*RUN, "--mac-address", "02:42:ac:11:00", "true"], 125),
    ("run mac not hex", [*RUN, "--mac-address", "02:42:ac:11:00:zz", "true"], 125),
    ("run name slash", [*RUN, "--name", "bad/name", "true"], 125),
    ("run name dot", [*RUN, "--name", ".", "true"], 125),
    ("run name dotdot", [*RUN, "--name", "..", "true"], 125),
    ("run name too long", [*RUN, "--name", "n" * 65, "true"], 125),
    ("run name in use", [*RUN, "--name", RUNNING, "true"], 125),
    ("run alias bad", [*RUN, "--network", NETWORK, "--network-alias", "-bad", "true"], 125),
    ("run alias default bridge", [*RUN, "--network-alias", "x", "true"], 125),
    ("run link bad format", [*RUN, "--link", "a:b:c", "true"], 125),
    ("run link missing", [*RUN, "--link", "nosuch", "true"], 125),
    ("run missing network", [*RUN, "--network", "missing-net", "true"], 125),
    ("run two special modes", [*RUN, "--network", "host", "--network", "none", "true"], 125),
    ("run host with ip", [*RUN, "--network", "host", "--ip", "172.18.0.9", "true"], 125),
    ("run container mode hostname", [*RUN, "--network", f"container:{RUNNING}", "-h", "h",
                                     "true"], 125),
    ("run empty container mode", [*RUN, "--network", "container:", "true"], 125),
    ("run rootfs missing", [*RUN, "--rootfs", "/nonexistent/tree", "true"], 125),
    ("run rootfs a file", [*RUN, "--rootfs", "/etc/passwd", "true"], 125),
    ("run unknown command", [*RUN, "--network", NETWORK, "nosuchcommand"], 127),
    ("run foreground unknown command", ["run", "--network", NETWORK, "nosuchcommand"], 127),
    ("run unknown flag", [*RUN, "--bogus", "true"], 125),
    ("run publish bad port", [*RUN, "-p", "abc", "true"], 125),
    ("run publish port 0", [*RUN, "-p", "0", "true"], 125),
    ("run publish no port", [*RUN, "-p", "8080:", "true"], 125),
    ("run publish host port too big", [*RUN, "-p", "70000:80", "true"], 125),
    ("run publish huge port", [*RUN, "-p", "9" * 5000, "true"], 125),
    ("run publish bad proto", [*RUN, "-p", "80/xyz", "true"], 125),
    ("run publish ranges differ", [*RUN, "-p", "8000-8002:80-81", "true"], 125),
    ("run publish bad ip", [*RUN, "-p", "1.2.3:80:80", "true"], 125),
    ("run publish ip zone", [*RUN, "-p", "[fe80::1%eth0]:80:80", "true"], 125),
    ("run publish ip brackets", [*RUN, "-p", "[::1:80:80", "true"], 125),
    ("run publish none mode", [*RUN, "--network", "none", "-p", "80", "true"], 125),
    ("run publish-all none mode", [*RUN, "--network", "none", "-P", "true"], 125),
    ("run publish container mode", [*RUN, "--network", f"container:{RUNNING}", "-p", "80",
                                    "true"], 125),
    ("run expose container mode", [*RUN, "--network", f"container:{RUNNING}", "--expose",
                                   "80", "true"], 125),
    ("run expose colon", [*RUN, "--expose", "80:80", "true"], 125),
    ("run expose bad range", [*RUN, "--expose", "82-80", "true"], 125),
    ("run expose bad proto", [*RUN, "--expose", "80/xyz", "true"], 125),
    ("create publish bad port", ["create", "--publish", "abc", "true"], 125),
    ("create expose bad", ["create", "--expose", "x", "true"], 125),
    ("create publish none mode", ["create", "--network", "none", "-p", "80", "true"], 1),
    # start / stop / kill / rm / wait / logs / exec / inspect
    ("start missing", ["start", "nosuch"], 1),
    ("stop bad time", ["stop", "-t", "abc", RUNNING], 125),
    ("restart bad time", ["restart", "-t", "x", RUNNING], 125),
    ("kill bad signal", ["kill", "-s", "NOPE", RUNNING], 1),
    ("kill signal 999", ["kill", "-s", "999", RUNNING], 1),
    ("kill signal 0", ["kill", "-s", "0", RUNNING], 1),
    ("rm running", ["rm", RUNNING], 1),
    ("rm no args", ["rm"], 125),
    ("wait missing", ["wait", "nosuch"], 1),
    ("logs bad tail", ["logs", "--tail", "abc", RUNNING], 1),
    ("logs missing", ["logs", "nosuch"], 1),
    ("exec env empty key", ["exec", "-e", "=x", RUNNING, "true"], 125),
    ("exec workdir missing", ["exec", "-w", "/nonexistent", RUNNING, "true"], 126),
    ("exec unknown command", ["exec", RUNNING, "nosuchcommand"], 127),
    ("exec no command", ["exec", RUNNING], 125),
    ("inspect bad template", ["inspect", "-f", "{{.Nope", RUNNING], None),
    # images
    ("import missing file", ["import", "/nonexistent/x.tar", "img"], 1),
    ("import a folder", ["import", "/etc", "img"], 1),
    ("import url", ["import", "http://192.0.2.1/x.tar", "img"], 1),
    ("import uppercase", ["import", "-", "Alpine"], 1),
    ("import newline", ["import", "-", "img\nx"], 1),
    ("import digest", ["import", "-", "img@sha256:" + "a" * 64], 1),
    ("import id as name", ["import", "-", "a" * 64], 1),
    ("import long name", ["import", "-", "a" * 256], 1),
    ("import tag too long", ["import", "-", "img:" + "t" * 129], 1),
    ("import bad change", ["import", "-c", "RUN make", "-", "img"], 1),
    ("import user change", ["import", "-c", "USER nobody", "-", "img"], 1),
    ("import empty change", ["import", "-c", "ENV", "-", "img"], 1),
    ("import no args", ["import"], 125),
    ("images bad filter", ["images", "-f", "bogus=1"], None),
    ("images bad dangling", ["images", "-f", "dangling=maybe"], None),
    ("images bad format", ["images", "--format", "{{.Nope"], None),
    ("images before missing", ["images", "-f", "before=nosuch"], None),
    ("rmi missing", ["rmi", "nosuch"], 1),
    ("rmi no args", ["rmi"], 125),
    ("image inspect missing", ["image", "inspect", "nosuch"], 1),
    # port
    ("port missing", ["port", "nosuch"], 1),
    ("port not published", ["port", RUNNING, "80"], 1),
    ("port bad port", ["port", RUNNING, "abc"], 1),
    ("port no args", ["port"], 125),
    ("port too many args", ["port", RUNNING, "80", "81"], 125),
    ("inspect bad type", ["inspect", "--type", "volume", RUNNING], 125),
    # ps
    ("ps bad filter", ["ps", "-f", "bogus=1"], None),
    ("ps filter no value", ["ps", "-f", "name"], 125),
    ("ps bad format", ["ps", "--format", "{{.Nope"], None),
    ("ps unknown field", ["ps", "--format", "{{.Nope}}"], None),
    # network
    ("network create exists", ["network", "create", NETWORK], 1),
    ("network create bridge", ["network", "create", "bridge"], 1),
    ("network create host driver", ["network", "create", "-d", "host", "n1"], 1),
    ("network create unknown driver", ["network", "create", "-d", "nosuch", "n1"], 1),
    ("network create ipam driver", ["network", "create", "--ipam-driver", "x", "n1"], 1),
    ("network create bad subnet", ["network", "create", "--subnet", "10.0.0.0/33", "n1"], 1),
    ("network create host bits", ["network", "create", "--subnet", "10.77.0.5/24", "n1"], 1),
    ("network create overlap", ["network", "create", "--subnet", "172.18.0.0/16", "n1"], 1),
    ("network create gateway outside", ["network", "create", "--subnet", "10.77.0.0/24",
                                        "--gateway", "10.78.0.1", "n1"], 1),
    ("network create unknown option", ["network", "create", "-o", "x=y", "n1"], 1),
    ("network create bad mtu", ["network", "create", "-o",
                                "com.docker.network.driver.mtu=abc", "n1"], 1),
    ("network create long bridge", ["network", "create", "-o",
                                    "com.docker.network.bridge.name=" + "b" * 16, "n1"], 1),
    ("network create bad name", ["network", "create", "bad/name"], 1),
    ("network create dotdot", ["network", "create", ".."], 1),
    ("network create no name", ["network", "create"], 125),
    ("network create opt no value", ["network", "create", "-o", "x", "n1"], 125),
    ("network rm predefined", ["network", "rm", "bridge"], 1),
    ("network rm busy", ["network", "rm", NETWORK], 1),
    ("network rm missing", ["network", "rm", "nosuch"], 1),
    ("network inspect missing", ["network", "inspect", "nosuch"], 1),
    ("network inspect bad template", ["network", "inspect", "-f", "{{.Nope", NETWORK], None),
    ("network ls bad filter", ["network", "ls", "-f", "bogus=1"], None),
    ("network ls bad type", ["network", "ls", "-f", "type=weird"], None),
    ("network ls bad dangling", ["network", "ls", "-f", "dangling=maybe"], None),
    ("network ls bad format", ["network", "ls", "--format", "{{.Nope"], None),
    ("network prune bad filter", ["network", "prune", "-f", "--filter", "bogus=1"], None),
    ("network prune bad until", ["network", "prune", "-f", "--filter", "until=soon"], None),
    ("network connect twice", ["network", "connect", NETWORK, RUNNING], 1),
    ("network connect host", ["network", "connect", "host", RUNNING], 1),
    ("network connect bad ip", ["network", "connect", "--ip", "1.2.3", "bridge", RUNNING], 1),
    ("network connect ip zone", ["network", "connect", "--ip6", "fe80::1%x\ny", "bridge",
                                 RUNNING], 1),
    ("network connect bad alias", ["network", "connect", "--alias", "a\nb", "bridge",
                                   RUNNING], 1),
    ("network disconnect not connected", ["network", "disconnect", "bridge", RUNNING], 1),
    ("network disconnect missing", ["network", "disconnect", "nosuch", RUNNING], 1),
    ("network unknown verb", ["network", "frobnicate"], 125),
    ("unknown command", ["frobnicate"], 125),
    ("store root a file", ["--root", "/etc/passwd", "network", "ls"], 1),
    ("run root a file", ["--run-root", "/etc/passwd", "ps"], 1),
]
MV = ["network", "create", "-d", "macvlan", "--subnet", "10.77.0.0/24"]
IV = ["network", "create", "-d", "ipvlan", "--subnet", "10.77.0.0/24"]
# -o parent and the modes: refused whatever the kernel has (the host's own links in the
# test's namespace are lo, the default bridge cnm0 and the module network's bridge).
PARENT_CASES: list[tuple[str, list[str], int | None]] = [
    *[(f"macvlan parent {cname}", [*MV, "-o", f"parent=lo{char}x", "n1"], 1)
      for cname, char in CONTROLS.items()],
    ("macvlan parent path", [*MV, "-o", "parent=../../etc", "n1"], 1),
    ("macvlan parent absolute", [*MV, "-o", "parent=/dev/null", "n1"], 1),
    ("macvlan parent long", [*MV, "-o", "parent=" + "e" * 300, "n1"], 1),
    ("macvlan parent lo", [*MV, "-o", "parent=lo", "n1"], 1),
    ("macvlan parent missing", [*MV, "-o", "parent=nosuch0", "n1"], 1),
    ("macvlan parent missing vlan link", [*MV, "-o", "parent=nosuch0.10", "n1"], 1),
    ("macvlan parent vlan 0", [*MV, "-o", "parent=lo.0", "n1"], 1),
    ("macvlan parent vlan 4095", [*MV, "-o", "parent=lo.4095", "n1"], 1),
    ("macvlan parent vlan word", [*MV, "-o", "parent=lo.ten", "n1"], 1),
    ("macvlan parent two dots", [*MV, "-o", "parent=lo.1.2", "n1"], 1),
    ("macvlan parent dot", [*MV, "-o", "parent=.", "n1"], 1),
    ("macvlan parent cnm0", [*MV, "-o", "parent=cnm0", "n1"], 1),
    ("macvlan parent cnm0 vlan", [*MV, "-o", "parent=cnm0.10", "n1"], 1),
    ("macvlan mode case", [*MV, "-o", "parent=cnm0", "-o", "macvlan_mode=BRIDGE", "n1"], 1),
    ("macvlan mode nl", [*MV, "-o", "macvlan_mode=bridge\n", "n1"], 1),
    ("macvlan unknown option", [*MV, "-o", "mtu=9000", "n1"], 1),
    ("ipvlan parent lo", [*IV, "-o", "parent=lo", "n1"], 1),
    ("ipvlan mode", [*IV, "-o", "ipvlan_mode=l4", "n1"], 1),
    ("ipvlan flag", [*IV, "-o", "ipvlan_flag=loud", "n1"], 1),
    ("ipvlan macvlan mode", [*IV, "-o", "macvlan_mode=bridge", "n1"], 1),
]
CASES = _cases() + PARENT_CASES


@pytest.mark.parametrize(("args", "code"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(busy, args, code):
    before = state(busy)
    assert_refused(busy.run(*args), code)
    assert state(busy) == before


def test_zz_count(capsys):
    """The table's size (at least 200 cases), printed after the table ran."""
    assert len(CASES) >= 200
    with capsys.disabled():
        print(f"\nbad-input cases: {len(CASES)}")
