"""click parameter types and shared option decorators, so every command parses alike."""

from __future__ import annotations

import click


class KeyValue(click.ParamType):
    """`KEY=VALUE` (or `KEY` alone when `allow_bare`, meaning an empty value)."""

    name = "key=value"

    def __init__(self, allow_bare: bool = False) -> None:
        self.allow_bare = allow_bare

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        key, sep, val = value.partition("=")
        if not key or (not sep and not self.allow_bare):
            self.fail(f"invalid argument {value!r}: expected KEY=VALUE", param, ctx)
        return key, val


def format_option(help_text: str = "Format output using a Go template, or 'json'"):
    """The `-f/--format` option of inspect commands."""
    return click.option("-f", "--format", "fmt", metavar="TEMPLATE", help=help_text)
