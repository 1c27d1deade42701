"""plugins/discovery.py: Docker's lookup order and file formats, and the trust rule
(plugins only from folders no one but root can change)."""

from __future__ import annotations

import json
import os
import socket

import pytest

from cnmctl.errors import InvalidArgument, NotFound
from cnmctl.plugins import discovery

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the trust rule needs root-owned "
                                "folders")


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A socket folder and two spec folders of the test's own, as the settings."""
    socks, spec1, spec2 = (tmp_path / n for n in ("socks", "spec1", "spec2"))
    for folder in (socks, spec1, spec2):
        folder.mkdir(mode=0o755)
    monkeypatch.setenv("CNMCTL_PLUGIN_SOCK_DIR", str(socks))
    monkeypatch.setenv("CNMCTL_PLUGIN_SPEC_DIRS", f"{spec1}:{spec2}")
    return socks, spec1, spec2


def _socket(path) -> socket.socket:
    path.parent.mkdir(mode=0o755, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


@needs_root
def test_name_sock_then_name_dir_sock(dirs):
    socks, _, _ = dirs
    with _socket(socks / "p" / "p.sock"):
        assert discovery.find("p").url == f"unix://{socks}/p/p.sock"
        with _socket(socks / "p.sock"):
            assert discovery.find("p").url == f"unix://{socks}/p.sock"  # first in order
    assert discovery.scan() == ["p"]


@needs_root
def test_a_plain_file_named_sock_is_no_plugin(dirs):
    socks, _, _ = dirs
    (socks / "p.sock").write_text("")
    with pytest.raises(NotFound, match='^plugin "p" not found$'):
        discovery.find("p")


@needs_root
def test_spec_and_json_in_folder_order(dirs, tmp_path):
    _, spec1, spec2 = dirs
    with _socket(tmp_path / "listen" / "x.sock"):
        (spec2 / "p.spec").write_text(f"  unix://{tmp_path}/listen/x.sock\n")
        assert discovery.find("p").url == f"unix://{tmp_path}/listen/x.sock"
        (spec1 / "p.json").write_text(json.dumps({"Name": "ignored", "Addr": "tcp://127.0.0.1:9",
                                                  "TLSConfig": {"InsecureSkipVerify": True}}))
        found = discovery.find("p")  # spec1 comes first, whatever the extension
        assert (found.name, found.url, found.tls) == ("p", "tcp://127.0.0.1:9",
                                                      {"InsecureSkipVerify": True})
        (spec1 / "q").mkdir()
        (spec1 / "q" / "q.spec").write_text("tcp://127.0.0.1:10")
        assert discovery.find("q").url == "tcp://127.0.0.1:10"
        assert discovery.scan() == ["p", "q"]


@needs_root
@pytest.mark.parametrize("text, message", [
    ("/run/x.sock", "Unknown protocol"),
    ("ftp://host/x", "Unknown protocol"),
])
def test_a_spec_without_a_known_scheme_is_refused(dirs, text, message):
    _, spec1, _ = dirs
    (spec1 / "p.spec").write_text(text)
    with pytest.raises(Exception, match=message):
        discovery.find("p")


@needs_root
def test_a_json_without_addr_is_refused(dirs):
    _, spec1, _ = dirs
    (spec1 / "p.json").write_text('{"Name": "p"}')
    with pytest.raises(Exception, match=r"is not a plugin description"):
        discovery.find("p")


@needs_root
@pytest.mark.parametrize("how", ["folder writable by others", "folder owned by a user",
                                 "spec points into a user's folder"])
def test_a_plugin_a_user_could_have_planted_is_refused(dirs, tmp_path, how):
    socks, spec1, _ = dirs
    if how == "folder writable by others":
        with _socket(socks / "p" / "p.sock"):
            os.chmod(socks / "p", 0o777)  # no sticky bit: anyone could swap the socket
            with pytest.raises(discovery.Untrusted) as info:
                discovery.find("p")
    elif how == "folder owned by a user":
        with _socket(socks / "p" / "p.sock"):
            os.chown(socks / "p", 1000, 1000)
            with pytest.raises(discovery.Untrusted) as info:
                discovery.find("p")
    else:
        user = tmp_path / "home"
        user.mkdir()
        with _socket(user / "x.sock"):
            os.chown(user, 1000, 1000)
            (spec1 / "p.spec").write_text(f"unix://{user}/x.sock")
            with pytest.raises(discovery.Untrusted) as info:
                discovery.find("p")
    message = str(info.value)
    assert "\n" not in message and "must belong to root and be writable by root alone" in message


@pytest.mark.parametrize("name", ["a/b", "../p", "p\n", "p\x1b[2J", "", ".p", "p" * 200])
def test_names_that_are_no_plain_file_names_are_refused(dirs, name):
    with pytest.raises(InvalidArgument, match="invalid plugin name"):
        discovery.find(name)
