"""Output: Docker's JSON, tables and `--format` templates.

Tables are aligned as Go's text/tabwriter does with Docker's settings
(minwidth 10, padding 3): hand-written because tabulate cannot reproduce
those column widths and its import costs more than a whole `network ls`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

TAB_MINWIDTH = 10
TAB_PADDING = 3

# Go's encoding/json escapes these even inside strings; Docker's inspect shows them so.
_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                    "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: object, indent: int | None = None) -> str:
    """JSON text as Go's json.Marshal(Indent) writes it."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    for char, escape in _GO_JSON_ESCAPES.items():
        if char in text:
            text = text.replace(char, escape)
    return text


def tabwrite(lines: Iterable[str], minwidth: int = TAB_MINWIDTH) -> str:
    """Align tab-separated cells into columns as Go's text/tabwriter does.

    A cell is tab-terminated, so a line's last cell belongs to no column. Go's
    format() sizes column k over each block of consecutive lines that have a
    cell k (width: the widest cell + padding, at least minwidth, also for an
    all-empty block since Docker does not set DiscardEmptyColumns), then recurses
    into column k+1 within the block. A line with a cell k+1 also has a cell k,
    so those blocks are just the runs of consecutive lines with a cell k+1: the
    recursion reduces to sizing each column over its own runs.
    """
    from itertools import groupby

    rows = [line.split("\t") for line in lines]
    widths = [[0] * (len(cells) - 1) for cells in rows]
    for col in range(max((len(cells) - 1 for cells in rows), default=0)):
        has_cell = [len(cells) - 1 > col for cells in rows]
        for present, run in groupby(range(len(rows)), key=has_cell.__getitem__):
            if present:
                block = list(run)
                width = max(minwidth, *(len(rows[i][col]) + TAB_PADDING for i in block))
                for i in block:
                    widths[i][col] = width
    out = []
    for cells, row_widths in zip(rows, widths, strict=True):
        out += [cell.ljust(width) for cell, width in zip(cells, row_widths, strict=False)]
        out.append(cells[-1] + "\n")
    return "".join(out)


def prepare_format(fmt: str) -> tuple[str, bool]:
    """Docker's preFormat: strip the `table` key, expand literal \\t and \\n.

    Returns the template text and whether the output is a table.
    """
    is_table = fmt.startswith("table")
    if is_table:
        fmt = fmt[len("table"):]
    elif fmt == "json":
        fmt = "{{json .}}"
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return fmt, is_table


def format_rows(fmt: str, rows: list, header: object | None = None) -> str:
    """Render `rows` with a Docker `--format` value (template, `table ...` or `json`)."""
    from cnmctl.gotemplate import compile_template

    text, is_table = prepare_format(fmt)
    template = compile_template(text)
    body = [template.execute(row) for row in rows]
    if not is_table:
        return "".join(line + "\n" for line in body)
    head = [template.execute(header)] if header is not None else []
    return tabwrite("\n".join(head + body).split("\n"))


def inspect_output(objects: list[dict], fmt: str | None) -> str:
    """`inspect` output: an indented JSON array, or one template line per object.

    Unlike `ls`/`ps` formats, an inspect template is used as given (Docker does
    not expand a literal \\n there, so `{{"\\n"}}` stays a Go string escape).
    """
    if not fmt:
        return go_json(objects, indent=4) + "\n"
    if fmt == "json":
        return go_json(objects) + "\n"
    from cnmctl.gotemplate import compile_template

    template = compile_template(fmt)
    return "".join(template.execute(obj) + "\n" for obj in objects)


DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: int, units: tuple[str, ...], precision: int) -> str:
    """Go's units.CustomSize: `size` in the largest unit under it, `precision`
    significant digits."""
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_size(size: float, precision: int = 4) -> str:
    """Go's units.HumanSizeWithPrecision: `precision` significant digits (4, as
    HumanSize gives them in prune's report; `images` asks for 3), decimal units."""
    return _scaled(size, 1000, DECIMAL_UNITS, precision)


def bytes_size(size: float) -> str:
    """Go's units.BytesSize: four significant digits, binary units (Total Memory)."""
    return _scaled(size, 1024, BINARY_UNITS, 4)
