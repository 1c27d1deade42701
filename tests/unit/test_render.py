"""Unit tests for cnmctl.cli.render: Go JSON, tabwriter tables, --format handling."""

from __future__ import annotations

import json

import pytest

from cnmctl.cli.render import format_rows, go_json, inspect_output, prepare_format, tabwrite

# Real `docker network ls` output (Go text/tabwriter, minwidth 10, padding 3).
DOCKER_NETWORK_LS = """\
NETWORK ID     NAME         DRIVER    SCOPE
641702a196bc   bridge       bridge    local
a54a0122a0a3   cnm-net      bridge    local
cc5943a39587   fixnet       bridge    local
ee2b8d4b1c7a   host         host      local
e1475223caef   int-net      bridge    local
bf46f190ed4b   none         null      local
fcf2d2976cce   other-net    bridge    local
c505d33b810c   unused-net   bridge    local
"""

NETWORKS = [
    ("641702a196bc", "bridge", "bridge", "local"),
    ("a54a0122a0a3", "cnm-net", "bridge", "local"),
    ("cc5943a39587", "fixnet", "bridge", "local"),
    ("ee2b8d4b1c7a", "host", "host", "local"),
    ("e1475223caef", "int-net", "bridge", "local"),
    ("bf46f190ed4b", "none", "null", "local"),
    ("fcf2d2976cce", "other-net", "bridge", "local"),
    ("c505d33b810c", "unused-net", "bridge", "local"),
]
HEADER = "NETWORK ID\tNAME\tDRIVER\tSCOPE"


# -- tabwrite -------------------------------------------------------------------


def test_tabwrite_matches_docker_network_ls() -> None:
    lines = [HEADER] + ["\t".join(row) for row in NETWORKS]
    assert tabwrite(lines) == DOCKER_NETWORK_LS


def test_tabwrite_header_only() -> None:
    assert tabwrite([HEADER]) == "NETWORK ID   NAME      DRIVER    SCOPE\n"


def test_tabwrite_accepts_an_iterator() -> None:
    lines = iter([HEADER] + ["\t".join(row) for row in NETWORKS])
    assert tabwrite(lines) == DOCKER_NETWORK_LS


def test_tabwrite_no_lines() -> None:
    assert tabwrite([]) == ""


def test_tabwrite_last_cell_not_padded() -> None:
    out = tabwrite(["A\tB", "a-much-longer-cell\tvery long last cell"])
    width = len("a-much-longer-cell") + 3
    assert out == "A".ljust(width) + "B\n" + "a-much-longer-cell   very long last cell\n"
    assert not any(line.endswith(" ") for line in out.splitlines())


def test_tabwrite_counts_characters_not_bytes() -> None:
    # Go's tabwriter counts runes, so "réseau" is 6 wide, not 7.
    assert tabwrite(["réseau-très-long\tx", "a\ty"]) == (
        "réseau-très-long   x\n"
        "a                  y\n"
    )


def test_tabwrite_column_blocks_like_go() -> None:
    # Go: fmt.Fprint(tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0), ...)
    lines = ["NAME\tDRIVER", "", "a-very-very-long-name\tbridge", "", "b\thost", ""]
    assert tabwrite(lines) == (
        "NAME      DRIVER\n"
        "\n"
        "a-very-very-long-name   bridge\n"
        "\n"
        "b         host\n"
        "\n"
    )


def test_tabwrite_empty_column_block_keeps_minwidth() -> None:
    # Without DiscardEmptyColumns Go gives an all-empty column minwidth.
    assert tabwrite(["\tx", "\ty"]) == " " * 10 + "x\n" + " " * 10 + "y\n"


def test_tabwrite_nested_blocks_like_go() -> None:
    # Column 1 is sized per run of lines having it, inside column 0's block.
    lines = ["a\tb\tc", "a\tlong-cell-b-1\tc", "a\tb", "a\tb\tc"]
    assert tabwrite(lines) == (
        "a         b               c\n"
        "a         long-cell-b-1   c\n"
        "a         b\n"
        "a         b         c\n"
    )


# -- go_json ---------------------------------------------------------------------


def test_go_json_compact() -> None:
    value = {"Name": "net", "Id": "abc", "Internal": False, "Count": 3,
             "Labels": {}, "Config": [], "Options": None}
    assert go_json(value) == (
        '{"Name":"net","Id":"abc","Internal":false,"Count":3,'
        '"Labels":{},"Config":[],"Options":null}'
    )


def test_go_json_html_escapes() -> None:
    text = go_json({"label": "<a href='x'>&amp;</a>"})
    assert text == '{"label":"\\u003ca href=\'x\'\\u003e\\u0026amp;\\u003c/a\\u003e"}'
    assert json.loads(text) == {"label": "<a href='x'>&amp;</a>"}


def test_go_json_escapes_in_keys_and_indent_form() -> None:
    assert go_json({"a<b": "c>d"}, indent=4) == '{\n    "a\\u003cb": "c\\u003ed"\n}'


def test_go_json_line_separators_escaped() -> None:
    assert go_json(["x\u2028y\u2029z"]) == '["x\\u2028y\\u2029z"]'


def test_go_json_keeps_non_ascii() -> None:
    assert go_json({"name": "réseau ✓ 网络"}) == '{"name":"réseau ✓ 网络"}'


def test_go_json_control_characters() -> None:
    assert go_json("a\nb\tc\"d\\e\x01") == '"a\\nb\\tc\\"d\\\\e\\u0001"'


def test_go_json_indent_matches_docker_layout() -> None:
    value = {
        "Name": "cnm-net",
        "Id": "a54a0122a0a3",
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}],
        },
        "Internal": False,
        "ConfigFrom": {"Network": ""},
        "Containers": {},
        "Options": {},
        "Labels": {},
        "Peers": [],
    }
    assert go_json(value, indent=4) == """\
{
    "Name": "cnm-net",
    "Id": "a54a0122a0a3",
    "EnableIPv6": false,
    "IPAM": {
        "Driver": "default",
        "Options": {},
        "Config": [
            {
                "Subnet": "172.18.0.0/16",
                "Gateway": "172.18.0.1"
            }
        ]
    },
    "Internal": false,
    "ConfigFrom": {
        "Network": ""
    },
    "Containers": {},
    "Options": {},
    "Labels": {},
    "Peers": []
}"""


def test_go_json_indent_empty_list() -> None:
    assert go_json([], indent=4) == "[]"
    assert go_json([{}], indent=4) == "[\n    {}\n]"


# -- prepare_format ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("table {{.ID}}\\t{{.Name}}", ("{{.ID}}\t{{.Name}}", True)),
        ("table", ("", True)),
        ("table{{.Name}}", ("{{.Name}}", True)),
        ("table   {{.Name}}   ", ("{{.Name}}", True)),
        ("json", ("{{json .}}", False)),
        ("{{json .}}", ("{{json .}}", False)),
        ("{{.Name}}", ("{{.Name}}", False)),
        ("  {{.Name}}  ", ("{{.Name}}", False)),
        ("{{.ID}}\\t{{.Name}}\\n", ("{{.ID}}\t{{.Name}}\n", False)),
        ("{{.ID}}\\n{{.Name}}", ("{{.ID}}\n{{.Name}}", False)),
        # Only spaces are trimmed, as Go's strings.Trim(format, " ") does.
        ("\t{{.Name}}\n", ("\t{{.Name}}\n", False)),
        # A real tab is left alone.
        ("{{.ID}}\t{{.Name}}", ("{{.ID}}\t{{.Name}}", False)),
    ],
)
def test_prepare_format(fmt: str, expected: tuple[str, bool]) -> None:
    assert prepare_format(fmt) == expected


def test_prepare_format_json_prefix_is_not_json() -> None:
    # Only the exact word `json` selects the JSON format.
    assert prepare_format("jsonx") == ("jsonx", False)


# -- inspect_output ----------------------------------------------------------------

OBJECTS = [
    {"Name": "a", "Id": "1", "Options": {}, "Labels": {"x": "<y>"}},
    {"Name": "b", "Id": "2", "Options": {}, "Labels": {}},
]


@pytest.mark.parametrize("fmt", [None, ""])
def test_inspect_output_default_is_indented_array(fmt) -> None:
    out = inspect_output(OBJECTS, fmt)
    assert out == """\
[
    {
        "Name": "a",
        "Id": "1",
        "Options": {},
        "Labels": {
            "x": "\\u003cy\\u003e"
        }
    },
    {
        "Name": "b",
        "Id": "2",
        "Options": {},
        "Labels": {}
    }
]
"""
    assert json.loads(out) == OBJECTS


def test_inspect_output_empty() -> None:
    assert inspect_output([], None) == "[]\n"
    assert inspect_output([], "json") == "[]\n"


def test_inspect_output_json_is_compact_array() -> None:
    assert inspect_output(OBJECTS, "json") == (
        '[{"Name":"a","Id":"1","Options":{},"Labels":{"x":"\\u003cy\\u003e"}},'
        '{"Name":"b","Id":"2","Options":{},"Labels":{}}]\n'
    )


# These need cnmctl/gotemplate.py.


def test_inspect_output_template_one_line_per_object() -> None:
    assert inspect_output(OBJECTS, "{{.Name}} {{.Id}}") == "a 1\nb 2\n"


def test_inspect_output_template_no_objects() -> None:
    assert inspect_output([], "{{.Name}}") == ""


# -- format_rows (needs cnmctl/gotemplate.py) ----------------------------------------

ROWS = [{"ID": row[0], "Name": row[1], "Driver": row[2], "Scope": row[3]}
        for row in NETWORKS]
ROW_HEADER = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}
TABLE_FORMAT = "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}"


def test_format_rows_table_matches_docker() -> None:
    assert format_rows(TABLE_FORMAT, ROWS, ROW_HEADER) == DOCKER_NETWORK_LS


def test_format_rows_table_no_rows_is_header_only() -> None:
    assert format_rows(TABLE_FORMAT, [], ROW_HEADER) == "NETWORK ID   NAME      DRIVER    SCOPE\n"


def test_format_rows_table_without_header() -> None:
    assert format_rows("table {{.Name}}\\t{{.Driver}}", ROWS[:2]) == (
        "bridge    bridge\n"
        "cnm-net   bridge\n"
    )


def test_format_rows_plain_template() -> None:
    assert format_rows("{{.Name}}", ROWS[:3]) == "bridge\ncnm-net\nfixnet\n"
    assert format_rows("{{.Name}}", []) == ""


def test_format_rows_plain_template_expands_tabs_without_aligning() -> None:
    assert format_rows("{{.ID}}\\t{{.Name}}", ROWS[:2]) == (
        "641702a196bc\tbridge\na54a0122a0a3\tcnm-net\n"
    )


def test_format_rows_json() -> None:
    out = format_rows("json", ROWS[:2])
    lines = out.splitlines()
    assert out.endswith("\n") and len(lines) == 2
    assert [json.loads(line) for line in lines] == ROWS[:2]
    assert lines[0] == '{"ID":"641702a196bc","Name":"bridge","Driver":"bridge","Scope":"local"}'


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (90, "About a minute"),
    (3000, "50 minutes"), (2.5 * 3600, "3 hours"), (47 * 3600, "47 hours"),
    (10 * 86400, "10 days"), (30 * 86400, "4 weeks"), (70 * 86400, "2 months"),
    (800 * 86400, "2 years"),
])
def test_human_duration_as_docker_go_units(seconds, text):
    from cnmctl.views import human_duration

    assert human_duration(seconds) == text
