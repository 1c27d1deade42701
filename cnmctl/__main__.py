"""`python -m cnmctl` runs the CLI."""

from cnmctl.cli import main

main()
