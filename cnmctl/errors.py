"""cnmctl's error types: each carries the exit code the CLI returns for it.

The message text follows Docker's wording so that scripts and students see
what they would see with `docker`.
"""


class CnmError(Exception):
    """Base error: a one-line message for the user and an exit code."""

    exit_code = 1


class NotFound(CnmError):
    """The named object (network, container, endpoint) does not exist."""


class Conflict(CnmError):
    """The request clashes with existing state (name in use, address in use, overlap)."""


class InvalidArgument(CnmError):
    """The request is malformed (bad CIDR, bad option, bad template)."""


class Forbidden(CnmError):
    """The request is well formed but not allowed (removing a predefined network)."""


class KernelError(CnmError):
    """A netlink or namespace operation failed; the message names the step."""
