"""The hostile-input guards of cnmctl/validate.py and the privilege check of entry.py,
without root: each accepts what Docker accepts and refuses what could reach a file,
a path or a name."""

from __future__ import annotations

import os

import pytest

from cnmctl import validate
from cnmctl.entry import privileged_exit
from cnmctl.errors import CnmError, InvalidArgument


def test_printable_escapes_control_characters_only():
    assert validate.printable("plain text: é") == "plain text: é"
    assert validate.printable("a\nb\tc\x00d\x1b\x7f") == "a\\nb\\tc\\x00d\\x1b\\x7f"


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\tb", "\x00", "\x1b[2J", "x\x7f"])
def test_check_text_refuses_control_characters(value):
    with pytest.raises(InvalidArgument) as exc:
        validate.check_text(value, "thing")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("invalid thing '")


@pytest.mark.parametrize("key", ["0" * 64, "a" * 64, "c1", "my.net", "A_b-9"])
def test_store_keys_accepted(key):
    assert validate.check_key(key) == key


@pytest.mark.parametrize("key", [".", "..", "../x", "a/b", "/etc/passwd", "", "-x", ".x",
                                 "a" * 65, "../.." + "/" * 52 + "/evil/x", "a\nb"])
def test_store_keys_refused(key):
    with pytest.raises(CnmError):
        validate.check_key(key)


def test_ids():
    assert validate.is_id("0123456789abcdef" * 4)
    assert not validate.is_id("0123456789ABCDEF" * 4)
    assert not validate.is_id("0" * 63)
    with pytest.raises(CnmError):
        validate.check_id("../" * 21 + "x")
    assert validate.check_short_id("0123456789abcdef" * 4) == "0123456789ab"
    with pytest.raises(CnmError):
        validate.check_short_id("../../etc/x")


@pytest.mark.parametrize("name", ["h", "web1", "a-b.example", "A" * 64, "1.2.3.4"])
def test_hostnames_docker_accepts(name):
    assert validate.check_hostname(name) == name


@pytest.mark.parametrize("name", ["my_host", "-a", "a-", "a..b", "a.", "a b", "A" * 65,
                                  "h\nnameserver 6.6.6.6"])
def test_hostnames_docker_refuses(name):
    with pytest.raises(InvalidArgument):
        validate.check_hostname(name)


@pytest.mark.parametrize("domain", [".", "example.test", "example.test.", "a1"])
def test_dns_search_accepted(domain):
    assert validate.check_dns_search(domain) == domain


@pytest.mark.parametrize("domain", ["123", "a b", "a/b", "-a.b", "x\nnameserver 1.1.1.1",
                                    "a" * 255])
def test_dns_search_refused(domain):
    with pytest.raises(InvalidArgument):
        validate.check_dns_search(domain)


def test_parse_ip_as_go_reads_it():
    assert str(validate.parse_ip("10.0.0.1")) == "10.0.0.1"
    assert validate.parse_ip("fd00::1").version == 6
    for text in ("fe80::1%eth0", "fe80::1%x\nnameserver 1.1.1.1", " 10.0.0.1", "10.0.0.1\n",
                 "10.0.0.300", ""):
        assert validate.parse_ip(text) is None, text


def test_env():
    validate.check_env(["A=1", "B", "C=", "D=multi\nline"])
    for item in ("=x", "", "A\nB=1", "A\x1b=1"):
        with pytest.raises(InvalidArgument):
            validate.check_env([item])


def test_private_dir_made_0700(tmp_path):
    path = str(tmp_path / "a" / "b")
    assert validate.private_dir(path, "store root") == path
    assert os.stat(path).st_mode & 0o777 == 0o700
    validate.private_dir(path, "store root")  # again: it exists and is fine


@pytest.mark.parametrize("how", ["symlink", "file", "0777", "0770", "0702"])
def test_private_dir_refused(tmp_path, how):
    path = tmp_path / "root"
    if how == "symlink":
        (tmp_path / "target").mkdir()
        path.symlink_to(tmp_path / "target")
    elif how == "file":
        path.write_text("x\n")
    else:
        path.mkdir()
        path.chmod(int(how, 8))
    with pytest.raises(CnmError) as exc:
        validate.private_dir(str(path), "run root")
    assert str(exc.value).startswith(f"refusing the run root {path}: ")


@pytest.mark.parametrize(("caps", "missing"), [
    ("000001ffffffffff", False),   # root
    ("0000000000201000", False),   # exactly CAP_NET_ADMIN and CAP_SYS_ADMIN
    ("0000000000001000", True),    # CAP_NET_ADMIN only
    ("0000000000200000", True),    # CAP_SYS_ADMIN only
    ("0000000000000000", True),    # an ordinary user
])
def test_missing_privileges_reads_effective_capabilities(tmp_path, caps, missing):
    status = tmp_path / "status"
    status.write_text(f"Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{caps}\n")
    assert validate.missing_privileges(str(status)) is missing


@pytest.mark.parametrize(("argv", "mutating"), [
    (["run", "-d", "sleep", "1"], True),
    (["--root", "/x", "run", "sleep", "1"], True),
    (["run", "-h", "host", "sleep", "1"], True),     # -h is --hostname for run
    (["run", "--help"], False),
    (["exec", "c1", "ls", "-h"], True),              # the command's own -h
    (["exec", "-h"], False),
    (["rm", "-f", "c1"], True),
    (["stop", "--help"], False),
    (["internal", "exited", "x", "0", "1"], True),
    (["network", "create", "n"], True),
    (["network", "connect", "n", "c"], True),
    (["network", "ls"], False),
    (["network", "inspect", "n"], False),
    (["network"], False),
    (["ps", "-a"], False),
    (["inspect", "c1"], False),
    (["logs", "c1"], False),
    ([], False),
    (["--version"], False),
])
def test_which_commands_need_privileges(monkeypatch, argv, mutating):
    monkeypatch.setattr(validate, "missing_privileges", lambda: True)
    assert bool(privileged_exit(argv)) is mutating
    monkeypatch.setattr(validate, "missing_privileges", lambda: False)
    assert privileged_exit(argv) == 0
