"""cnmctl: Docker's Container Network Model on Linux, without a daemon."""

__version__ = "0.1.0"
