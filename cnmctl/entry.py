"""The `cnmctl` console script: the click-free path for the commands scripts run in
loops first, else click."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run cnmctl with the process's arguments."""
    from cnmctl.cli.direct import fast_path

    try:
        code = fast_path(sys.argv[1:])
        if code is not None:
            sys.stdout.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # the reader went away (`| head`): quiet, exit 1 as click does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    if code is not None:
        sys.exit(code)
    from cnmctl.cli.app import main as click_main

    click_main()
