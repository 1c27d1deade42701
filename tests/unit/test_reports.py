"""The background hooks' reports (cnmctl/engine/reports.py): kept, shown, cleared."""

from __future__ import annotations

import os
import subprocess
import sys

from cnmctl.engine import reports


def test_a_hooks_stderr_lands_in_the_reports(tmp_path):
    code = ("import sys; from cnmctl.engine import reports; "
            f"reports.divert_stderr({str(tmp_path)!r}); "
            "print('Warning: one', file=sys.stderr); print('two\\x1b[31m', file=sys.stderr)")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert reports.read_reports(str(tmp_path)) == ["Warning: one", "two?[31m"]
    assert os.stat(tmp_path / reports.REPORTS).st_mode & 0o777 == 0o600
    reports.clear_reports(str(tmp_path))
    reports.clear_reports(str(tmp_path))  # twice: nothing there is not an error
    assert reports.read_reports(str(tmp_path)) == []


def test_a_flood_shows_only_its_end_in_whole_lines(tmp_path):
    lines = [f"line {n:06d}" for n in range(20000)]
    (tmp_path / reports.REPORTS).write_text("\n".join(lines) + "\n")
    shown = reports.read_reports(str(tmp_path))
    assert shown[-1] == lines[-1] and len(shown) < len(lines)
    assert all(line in lines for line in shown)


def test_a_symlink_is_not_followed(tmp_path):
    (tmp_path / "elsewhere").write_text("secret\n")
    os.symlink(tmp_path / "elsewhere", tmp_path / reports.REPORTS)
    assert reports.read_reports(str(tmp_path)) == [f"{reports.REPORTS} cannot be read: "
                                                    "Too many levels of symbolic links"]
    reports.clear_reports(str(tmp_path))
    assert (tmp_path / "elsewhere").read_text() == "secret\n"
    assert reports.read_reports(str(tmp_path)) == []


def test_a_hook_with_nothing_to_say_leaves_no_file(tmp_path):
    code = ("import click; from cnmctl.engine import reports; "
            f"reports.divert_stderr({str(tmp_path)!r}); click.echo('', err=True, nl=False)")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert os.listdir(tmp_path) == []


def test_click_s_error_lines_are_kept_too(tmp_path):
    code = ("import click; from cnmctl.engine import reports; "
            f"reports.divert_stderr({str(tmp_path)!r}); click.echo('Error: x', err=True)")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert reports.read_reports(str(tmp_path)) == ["Error: x"]
