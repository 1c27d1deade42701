"""Finding plugins as Docker does (cnmctl/plugins/discovery.py): lookup order, file
forms, and the trust rule (root-owned folders whose entries nobody else can replace).
Run as root, as the whole suite is: the files must belong to root to be trusted."""

from __future__ import annotations

import json
import os
import socket

import pytest

from cnmctl.errors import CnmError, InvalidArgument, NotFound
from cnmctl.plugins import discovery


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A socket folder and two spec folders, root-owned, 0755."""
    sock, spec1, spec2 = (tmp_path / n for n in ("run", "etc", "lib"))
    for d in (tmp_path, sock, spec1, spec2):
        d.mkdir(exist_ok=True)
        d.chmod(0o755)
    monkeypatch.setenv("CNMCTL_PLUGIN_SOCK_DIR", str(sock))
    monkeypatch.setenv("CNMCTL_PLUGIN_SPEC_DIRS", f"{spec1}:{spec2}")
    return sock, spec1, spec2


def _listen(path) -> socket.socket:
    path.parent.mkdir(exist_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    return s


def test_socket_comes_before_spec_files(dirs):
    sock, spec1, _ = dirs
    (spec1 / "p.spec").write_text("unix:///elsewhere.sock\n")
    with _listen(sock / "p.sock"):
        assert discovery.find("p").url == f"unix://{sock}/p.sock"


def test_folder_form_of_socket(dirs):
    sock, _, _ = dirs
    with _listen(sock / "p" / "p.sock"):
        assert discovery.find("p").url == f"unix://{sock}/p/p.sock"
        assert discovery.scan() == ["p"]


def test_plain_file_named_like_a_socket_is_not_a_plugin(dirs):
    sock, _, spec2 = dirs
    (sock / "p.sock").write_text("")
    (spec2 / "p.spec").write_text("  tcp://127.0.0.1:9999  \n")
    assert discovery.find("p").url == "tcp://127.0.0.1:9999"


def test_first_spec_folder_wins_and_spec_before_json(dirs):
    _, spec1, spec2 = dirs
    (spec2 / "p.spec").write_text("tcp://127.0.0.1:2")
    (spec1 / "p.json").write_text(json.dumps({"Name": "ignored", "Addr": "tcp://127.0.0.1:1"}))
    assert discovery.find("p").url == "tcp://127.0.0.1:1"
    (spec1 / "p.spec").write_text("tcp://127.0.0.1:3")
    assert discovery.find("p").url == "tcp://127.0.0.1:3"


def test_json_with_tls(dirs):
    _, spec1, _ = dirs
    (spec1 / "p").mkdir()
    (spec1 / "p").chmod(0o755)
    (spec1 / "p" / "p.json").write_text(json.dumps(
        {"Addr": "https://127.0.0.1:1", "TLSConfig": {"InsecureSkipVerify": True}}))
    found = discovery.find("p")
    assert (found.url, found.tls) == ("https://127.0.0.1:1", {"InsecureSkipVerify": True})


@pytest.mark.parametrize("text", ["127.0.0.1:80", "ftp://x", '{"Addr": 1}'])
def test_bad_descriptions_are_one_line_errors(dirs, text):
    _, spec1, _ = dirs
    (spec1 / "p.spec").write_text(text)
    with pytest.raises(CnmError, match="Unknown protocol"):
        discovery.find("p")


def test_bad_json_is_an_error(dirs):
    _, spec1, _ = dirs
    (spec1 / "p.json").write_text("{nope")
    with pytest.raises(CnmError, match="not a plugin description"):
        discovery.find("p")


def test_missing_plugin_is_dockers_message(dirs):
    with pytest.raises(NotFound, match='^plugin "ghost" not found$'):
        discovery.find("ghost")


@pytest.mark.parametrize("name", ["../etc/x", "a/b", "x\n", "", ".hidden", "a b", "x" * 129])
def test_names_that_could_walk_a_path_are_refused(dirs, name):
    with pytest.raises(InvalidArgument):
        discovery.find(name)


def test_folder_others_may_write_is_not_trusted(dirs):
    sock, _, _ = dirs
    with _listen(sock / "p.sock"):
        sock.chmod(0o777)
        with pytest.raises(discovery.Untrusted, match="must belong to root"):
            discovery.find("p")
        sock.chmod(0o1777)  # sticky: others cannot replace root's entries
        assert discovery.find("p").name == "p"


def test_file_of_another_user_is_not_trusted(dirs):
    _, spec1, _ = dirs
    (spec1 / "p.spec").write_text("tcp://127.0.0.1:1")
    os.chown(spec1 / "p.spec", 65534, 65534)
    with pytest.raises(discovery.Untrusted):
        discovery.find("p")


def test_spec_pointing_at_an_untrusted_socket(dirs, tmp_path):
    _, spec1, _ = dirs
    other = tmp_path / "other"
    other.mkdir()
    os.chown(other, 65534, 65534)
    with _listen(other / "x.sock"):
        (spec1 / "p.spec").write_text(f"unix://{other}/x.sock")
        with pytest.raises(discovery.Untrusted):
            discovery.find("p")


def test_a_spec_naming_a_socket_not_there_yet(tmp_path, monkeypatch):
    """Found (the client waits for the socket, as Docker does) when only root can make
    it; refused when its folder lets others make entries."""
    os.chmod(tmp_path, 0o755)
    specs = tmp_path / "specs"
    specs.mkdir(mode=0o755)
    monkeypatch.setenv("CNMCTL_PLUGIN_SOCK_DIR", str(tmp_path / "socks"))
    monkeypatch.setenv("CNMCTL_PLUGIN_SPEC_DIRS", str(specs))
    (specs / "p.spec").write_text(f"unix://{tmp_path}/run/p/p.sock\n")
    assert discovery.find("p").url == f"unix://{tmp_path}/run/p/p.sock"
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    (specs / "p.spec").write_text(f"unix://{shared}/p.sock\n")
    with pytest.raises(discovery.Untrusted, match="writable by root alone"):
        discovery.find("p")
