"""The `cnmctl` console script: the click-free read-only path first, else click."""

from __future__ import annotations

import sys


def main() -> None:
    """Run cnmctl with the process's arguments."""
    from cnmctl.cli.direct import fast_path

    code = fast_path(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        sys.exit(code)
    from cnmctl.cli.app import main as click_main

    click_main()
