"""Generated docs (completions/, man/) are current, help is complete, completion works."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def _load_gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "tools" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen_docs = _load_gen_docs()
TREE = gen_docs.build_tree()
NODES = list(gen_docs.walk(TREE))
LEAVES = [n for n in NODES if not n.is_group]


def test_generated_docs_are_up_to_date(tmp_path):
    written = gen_docs.generate(tmp_path)
    assert "completions/cnmctl.bash" in written
    assert "man/cnmctl.1" in written
    problems = gen_docs.differences(tmp_path, REPO)
    assert not problems, (
        "completions/ or man/ are out of date: " + ", ".join(problems)
        + f"; run {gen_docs.REGENERATE}"
    )


def test_generation_is_deterministic(tmp_path):
    gen_docs.generate(tmp_path / "a")
    gen_docs.generate(tmp_path / "b")
    assert gen_docs.differences(tmp_path / "a", tmp_path / "b") == []


def test_check_reports_stale_and_changed_files(tmp_path, capsys):
    gen_docs.generate(tmp_path)
    assert gen_docs.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "man" / "cnmctl-network-ls.1").write_text("old\n")
    (tmp_path / "man" / "cnmctl-gone.1").write_text("old\n")
    assert gen_docs.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "man/cnmctl-network-ls.1 (out of date)" in err
    assert "man/cnmctl-gone.1 (stale" in err
    assert "tools/gen_docs.py" in err


def test_one_man_page_per_command():
    pages = {p.name for p in (REPO / "man").glob("*.1")}
    expected = {f"{n.page}.1" for n in NODES}
    assert {"cnmctl.1", "cnmctl-network.1", "cnmctl-network-create.1",
            "cnmctl-network-ls.1"} <= expected
    assert pages == expected, f"run {gen_docs.REGENERATE}"


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.path)
def test_every_command_has_help(node):
    assert gen_docs.help_text(node.command), f"'{node.path}' has no help text"


@pytest.mark.parametrize("node", NODES, ids=lambda n: n.path)
def test_every_option_has_help(node):
    undocumented = [
        "/".join(option.opts) for option in gen_docs.options(node)
        if "--help" not in option.opts and not (option.help or "").strip()
    ]
    assert not undocumented, f"'{node.path}': options without help: {undocumented}"


@pytest.mark.xfail(not README.exists(), reason="README.md not written yet",
                   raises=FileNotFoundError, strict=False)
def test_readme_mentions_every_command():
    text = README.read_text(encoding="utf-8")
    missing = [node.path for node in LEAVES
               if not re.search(rf"(?<![\w-]){re.escape(node.path)}(?![\w-])", text)]
    assert not missing, f"README.md does not mention: {missing}"


def _complete(words: str, cword: int) -> list[str]:
    """Ask `python -m cnmctl` for bash completions the way the bash script does."""
    env = dict(os.environ, _CNMCTL_COMPLETE="bash_complete",
               COMP_WORDS=words, COMP_CWORD=str(cword))
    proc = subprocess.run(["bash", "-c", '"$0" -m cnmctl', sys.executable],
                          env=env, capture_output=True, text=True, timeout=60, check=True)
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines()
            if line.startswith("plain,")]


def test_bash_completion_protocol_offers_subcommands():
    offered = _complete("cnmctl network ", 2)
    for name in ("create", "ls", "inspect", "rm", "prune"):
        assert name in offered, offered
    assert "network" in _complete("cnmctl ", 1)
    assert "--filter" in _complete("cnmctl network ls --", 3)


def test_generated_bash_script_completes(tmp_path):
    """Source completions/cnmctl.bash and run its function as bash would on TAB."""
    shim = tmp_path / "cnmctl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cnmctl "$@"\n')
    shim.chmod(0o755)
    script = (
        f'source "{REPO / "completions" / "cnmctl.bash"}"\n'
        'COMP_WORDS=(cnmctl network ""); COMP_CWORD=2; COMPREPLY=()\n'
        "_cnmctl_completion cnmctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    offered = proc.stdout.split()
    for name in ("create", "ls", "inspect", "rm", "prune"):
        assert name in offered, (offered, proc.stderr)
