"""The click-free path for looped commands answers exactly as the click path does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnmctl.cli.direct import fast_path

CLICK = [sys.executable, "-c", "import sys; from cnmctl.cli.app import main; main()"]
FAST = [sys.executable, "-m", "cnmctl"]

CASES = [
    ["network", "ls"],
    ["network", "list", "-q"],
    ["network", "ls", "--no-trunc", "--format", "{{.Name}}\\t{{.Driver}}"],
    ["network", "ls", "--format=json", "-f", "type=builtin"],
    ["network", "ls", "--filter", "driver=null", "--filter=name=none"],
    ["network", "ls", "--format", "table {{.Name}}\\t{{.Scope}}"],
    ["network", "ls", "-f", "nosuchkey=1"],
    ["network", "inspect", "bridge"],
    ["network", "inspect", "-f", "{{.Name}} {{json .IPAM.Config}}", "bridge", "host"],
    ["network", "inspect", "--format={{.Driver}}", "none", "nosuchnet"],
    ["network", "inspect", "-f", "{{.Name", "bridge"],
    ["inspect", "bridge"],
    ["inspect", "-f", "{{.Name}}", "--type", "network", "host"],
    ["inspect", "--type=container", "bridge"],
    ["inspect", "nosuch"],
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    env = dict(os.environ, CNMCTL_ROOT=str(root / "lib"), CNMCTL_RUN_ROOT=str(root / "run"))
    subprocess.run([*FAST, "network", "ls"], env=env, check=True, capture_output=True)
    return env


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_same_output_both_ways(env, args):
    fast = subprocess.run([*FAST, *args], env=env, capture_output=True, text=True)
    slow = subprocess.run([*CLICK, *args], env=env, capture_output=True, text=True)
    assert (fast.returncode, fast.stdout, fast.stderr) == \
        (slow.returncode, slow.stdout, slow.stderr)


@pytest.mark.parametrize("args", [
    ["--help"], ["network", "ls", "--help"], ["network", "ls", "-qa"],
    ["network", "ls", "extra"], ["network", "inspect"], ["network", "ls", "-f", "bad"],
    ["inspect", "--type", "volume", "x"], ["network", "create", "-o", "novalue", "x"],
    ["network", "create", "--driver", "a", "--driver", "b", "x"], ["network", "rm"], ["ps"],
    ["--bogus", "network", "ls"], ["stop", "-t", "--5", "c"], ["restart", "-t", "\u00b2", "c"],
])
def test_unusual_arguments_go_to_click(args):
    assert fast_path(args) is None


def test_create_option_table_matches_click():
    from cnmctl.cli.direct import CREATE_FLAGS, CREATE_VALUED
    from cnmctl.cli.network import create

    click_options = {name for param in create.params for name in param.opts
                     if param.param_type_name == "option"} - {"-h", "--help"}
    fast_options = {n for names in (*CREATE_FLAGS.values(), *CREATE_VALUED.values())
                    for n in names}
    assert fast_options == click_options
    flags = {n for param in create.params if getattr(param, "is_flag", False)
             for n in param.opts}
    assert flags == {n for names in CREATE_FLAGS.values() for n in names}


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "kill", "rm", "wait"])
def test_container_verb_tables_match_click(verb):
    import importlib

    from cnmctl.cli.direct import CONTAINER_VERBS

    command = getattr(importlib.import_module("cnmctl.cli.container"), verb)
    flags, valued, defaults = CONTAINER_VERBS[verb]
    # `start -a/-i` attaches a terminal: click's path only, never a loop's
    options = [p for p in command.params if p.param_type_name == "option"
               and not (verb == "start" and p.name in ("attach", "interactive", "detach_keys"))]
    assert {n for p in options if p.is_flag for n in p.opts} == \
        {n for names in flags.values() for n in names}
    assert {n for p in options if not p.is_flag for n in p.opts} == \
        {n for names in valued.values() for n in names}
    assert sorted(str(p.default) for p in options if not p.is_flag) == sorted(defaults.values())


@pytest.mark.parametrize("verb", ["run", "create"])
def test_run_and_create_tables_match_click(verb):
    import importlib

    from cnmctl.cli.direct import RUN_FLAGS, RUN_MULTIPLE, RUN_ONLY, RUN_SINGLE

    command = getattr(importlib.import_module("cnmctl.cli.container"), verb)
    options = {p.name: p for p in command.params if p.param_type_name == "option"}
    flags = {k: v for k, v in RUN_FLAGS.items() if verb == "run" or k not in RUN_ONLY}
    single = {k: v for k, v in RUN_SINGLE.items() if verb == "run" or k not in RUN_ONLY}
    assert {k for k, p in options.items() if p.is_flag} == set(flags)
    assert {k for k, p in options.items() if p.multiple} == set(RUN_MULTIPLE)
    # --sig-proxy[=BOOL] takes an optional value, which only click parses
    click_only = {"sig_proxy"} if verb == "run" else set()
    assert {k for k, p in options.items() if not p.is_flag and not p.multiple} == \
        set(single) | click_only
    for table in (flags, single, RUN_MULTIPLE):
        for key, names in table.items():
            assert set(options[key].opts) | set(options[key].secondary_opts) == set(names)


def test_bundled_one_letter_flags_stay_on_the_fast_path():
    """`run -dit` (common in scripts written for Docker) without click."""
    from cnmctl.cli.direct import RUN_FLAGS, RUN_MULTIPLE, _parse

    opts, refs = _parse(["-dit", "--name", "x", "sleep", "1"], RUN_FLAGS,
                        {**RUN_MULTIPLE, "name": ("--name",)}, interspersed=False)
    assert (opts["detach"], opts["interactive"], opts["tty"], opts["auto_remove"]) == (
        True, True, True, False)
    assert opts["name"] == ["x"] and refs == ["sleep", "1"]
    assert _parse(["-dX", "sleep"], RUN_FLAGS, {}) is None  # an unknown letter: click's
