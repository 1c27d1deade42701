"""`python -m cnmctl` runs the CLI."""

from cnmctl.entry import main

main()
