"""Go text/template subset used by `--format` / `-f` (cnmctl.gotemplate)."""

from __future__ import annotations

import pytest

from cnmctl.errors import InvalidArgument
from cnmctl.gotemplate import Template, TemplateError, compile_template, render

NETWORK = {
    "Name": "cnm-net",
    "Id": "4f2c",
    "Driver": "bridge",
    "Internal": False,
    "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.1.2.3/24"}]},
    "Options": {"com.docker.network.bridge.name": "br-cnm"},
    "Labels": {},
    "Containers": {"c1": {"Name": "web"}, "c2": {"Name": "db"}},
    "Args": ["a", "b", "c"],
}

CONTAINER = {
    "Name": "/web",
    "NetworkSettings": {
        "Networks": {
            "cnm-net": {"IPAddress": "10.1.2.10", "Gateway": "10.1.2.1"},
            "bridge": {"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1"},
        }
    },
}


class Endpoint:
    """An object whose attributes act as fields and whose methods act as methods."""

    def __init__(self) -> None:
        self.Name = "ep0"
        self.Labels = {"com.example.k": "v"}
        self._secret = "hidden"

    def Label(self, key: str) -> str:  # noqa: N802 - Go-style method name
        return self.Labels.get(key, "")

    def Join(self, left: str, right: str) -> str:  # noqa: N802
        return f"{left}+{right}"

    def Broken(self) -> str:  # noqa: N802
        raise RuntimeError("boom")

    def __str__(self) -> str:
        return "endpoint ep0"


def error_of(text: str, data: object = None) -> str:
    with pytest.raises(TemplateError) as info:
        render(text, data)
    return str(info.value)


# --- the documented Docker examples ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("{{range .IPAM.Config}}{{.Subnet}} gw={{.Gateway}}{{end}}", NETWORK,
         "10.1.2.3/24 gw=<no value>"),
        ("{{json .IPAM.Config}}", NETWORK, '[{"Subnet":"10.1.2.3/24"}]'),
        ('{{(index .NetworkSettings.Networks "cnm-net").IPAddress}}', CONTAINER, "10.1.2.10"),
        ("{{range $k,$v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", CONTAINER,
         "bridge=172.17.0.2 cnm-net=10.1.2.10 "),
        ('{{index .Options "com.docker.network.bridge.name"}}', NETWORK, "br-cnm"),
        ('{{join .Args ","}}', NETWORK, "a,b,c"),
        ("{{len .Containers}}", NETWORK, "2"),
        ("{{upper .Name}}", NETWORK, "CNM-NET"),
        ("{{if .Internal}}yes{{else}}no{{end}}", NETWORK, "no"),
        ("{{println .Name}}", NETWORK, "cnm-net\n"),
        ('{{printf "%s:%d" .Name 3}}', NETWORK, "cnm-net:3"),
        ("{{.Name}}\\t{{.Driver}}", NETWORK, "cnm-net\\tbridge"),
    ],
)
def test_docker_examples(text, data, expected):
    assert render(text, data) == expected


# --- text, actions, trimming, comments -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("plain text, no actions", "plain text, no actions"),
        ("a }} b", "a }} b"),
        ("x {{- .Name}}", "xcnm-net"),
        ("{{.Name -}} \n\t y", "cnm-nety"),
        ("a  {{- .Name -}}  b", "acnm-netb"),
        ("a\n{{- /* comment */ -}}\nb", "ab"),
        ("a{{/* a\nmulti-line comment */}}b", "ab"),
        ("{{-3}}", "-3"),
        ('{{"}}"}}', "}}"),
        ("{{ .Name }}", "cnm-net"),
        ("{{\n.Name\n}}", "cnm-net"),
    ],
)
def test_text_trim_and_comments(text, expected):
    assert render(text, NETWORK) == expected


# --- fields, dot, $, variables --------------------------------------------------------


def test_field_chains_and_missing_keys():
    data = {"A": {"B": {"C": "deep"}}, "N": None}
    assert render("{{.A.B.C}}", data) == "deep"
    assert render("{{.Missing}}", data) == "<no value>"
    assert render("{{.Missing.Deeper.Still}}", data) == "<no value>"
    assert render("{{.A.Missing}}", data) == "<no value>"
    assert render("{{.N}}", data) == "<nil>"


def test_missing_key_is_false_in_if():
    assert render("{{if .Missing}}yes{{else}}no{{end}}", {}) == "no"


def test_dot_and_root():
    assert render("{{.}}", "text") == "text"
    assert render("{{range .Args}}{{.}}{{$.Id}} {{end}}", NETWORK) == "a4f2c b4f2c c4f2c "
    assert render("{{with .IPAM}}{{$.Name}}/{{.Driver}}{{end}}", NETWORK) == "cnm-net/default"
    assert render("{{$}}", 7) == "7"
    assert render("{{$.Name}}", NETWORK) == "cnm-net"


def test_variables_declare_assign_and_fields():
    assert render("{{$x := .IPAM}}{{$x.Driver}}", NETWORK) == "default"
    assert render('{{$x := "a"}}{{$x = "b"}}{{$x}}', {}) == "b"
    assert render('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', {}) == "2"
    assert render("{{$x := .}}{{range .Args}}{{$x.Name}}{{end}}", NETWORK) == "cnm-net" * 3
    assert render("{{with $i := .IPAM}}{{$i.Driver}}{{end}}", NETWORK) == "default"


def test_variable_scope_ends_with_its_control():
    assert "undefined variable \"$v\"" in error_of("{{range $v := .}}{{end}}{{$v}}", [])
    assert "undefined variable \"$y\"" in error_of("{{$y}}")
    assert "undefined variable \"$y\"" in error_of("{{$y = 1}}")


def test_object_attributes_and_methods():
    endpoint = Endpoint()
    assert render("{{.Name}}", endpoint) == "ep0"
    assert render('{{.Label "com.example.k"}}', endpoint) == "v"
    assert render('{{"com.example.k" | .Label}}', endpoint) == "v"
    assert render('{{.Join "a" "b"}}', endpoint) == "a+b"
    assert render('{{"b" | .Join "a"}}', endpoint) == "a+b"
    assert render("{{.}}", endpoint) == "endpoint ep0"
    assert render("{{.Labels}}", endpoint) == "map[com.example.k:v]"


def test_object_errors():
    endpoint = Endpoint()
    assert error_of("{{.Nope}}", endpoint) == (
        'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type Endpoint'
    )
    assert "can't evaluate field _secret" in error_of("{{._secret}}", endpoint)
    assert "can't evaluate field __class__" in error_of("{{.__class__}}", endpoint)
    assert "error calling Broken: boom" in error_of("{{.Broken}}", endpoint)
    assert "error calling Label" in error_of("{{.Label}}", endpoint)
    assert "Name has arguments but cannot be invoked as function" in error_of(
        '{{.Name "x"}}', endpoint
    )


@pytest.mark.parametrize(
    ("data", "go_type"),
    [("text", "string"), (3, "int"), (1.5, "float64"), (True, "bool"), (None, "<nil>"),
     ([1], "[]interface {}")],
)
def test_field_on_non_struct_is_an_error(data, go_type):
    message = error_of("{{.X}}", data)
    expected = f"can't evaluate field X in type {go_type}"
    assert message == f'template: :1:2: executing "" at <.X>: {expected}'


def test_field_error_reports_line_and_column():
    message = error_of("line one\n  {{.Name.Bad}}", NETWORK)
    assert message.startswith('template: :2:4: executing "" at <.Name.Bad>: ')


def test_map_field_with_arguments_is_an_error():
    assert "Name is not a method but has arguments" in error_of('{{.Name "x"}}', NETWORK)
    assert "Name is not a method but has arguments" in error_of('{{"x" | .Name}}', NETWORK)


def test_chains_on_parenthesised_pipelines():
    data = {"M": {"k": {"V": {"W": "w"}}}}
    assert render('{{(index .M "k").V.W}}', data) == "w"
    assert render('{{(index .M "missing").V}}', data) == "<no value>"
    assert render("{{(.M).k.V.W}}", data) == "w"


# --- literals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{"a\\tb\\nc"}}', "a\tb\nc"),
        ('{{"quote \\" and backslash \\\\"}}', 'quote " and backslash \\'),
        ('{{"\\x41\\u00e9\\U0001F600\\101"}}', "A\u00e9\U0001F600A"),
        ("{{`raw \\n {{ }}`}}", "raw \\n {{ }}"),
        ("{{42}}", "42"),
        ("{{-7}}", "-7"),
        ("{{+7}}", "7"),
        ("{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}", "31 15 15 5 1000"),
        ("{{1.5}} {{2.0}} {{1e3}} {{.5}}", "1.5 2 1000 0.5"),
        ("{{'a'}}", "97"),
        ("{{true}} {{false}}", "true false"),
        ('{{print nil}}', "<nil>"),
    ],
)
def test_literals(text, expected):
    assert render(text, {}) == expected


# --- pipelines ------------------------------------------------------------------------


def test_pipelines_pass_the_value_as_last_argument():
    assert render("{{.IPAM | json}}", NETWORK) == (
        '{"Driver":"default","Config":[{"Subnet":"10.1.2.3/24"}]}'
    )
    assert render('{{.Name | printf "%s-x"}}', NETWORK) == "cnm-net-x"
    assert render('{{"b" | printf "%s-%s" "a"}}', {}) == "a-b"
    assert render("{{.Name | upper | lower | len}}", NETWORK) == "7"
    assert render('{{"," | join .Args}}', {"Args": ["x", "y"]}) == "x,y"
    # the piped list becomes the separator, as in Go
    assert "expected []string; got string" in error_of('{{.Args | join ","}}', NETWORK)


# --- if / else if / with / range ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        (False, False), (True, True), (0, False), (1, True), (-1, True), (0.0, False),
        (0.5, True), ("", False), ("x", True), ([], False), ([0], True), ({}, False),
        ({"k": 0}, True), (None, False), ((), False), (Endpoint(), True),
    ],
)
def test_truthiness(value, truth):
    assert render("{{if .V}}T{{else}}F{{end}}", {"V": value}) == ("T" if truth else "F")


def test_if_else_if_chain():
    text = "{{if eq .N 1}}one{{else if eq .N 2}}two{{else if eq .N 3}}three{{else}}many{{end}}"
    assert [render(text, {"N": n}) for n in (1, 2, 3, 4)] == ["one", "two", "three", "many"]
    assert render("{{if .A}}a{{end}}|", {"A": ""}) == "|"


def test_with_and_else_with():
    assert render("{{with .IPAM}}{{.Driver}}{{end}}", NETWORK) == "default"
    assert render("{{with .Labels}}x{{else}}none{{end}}", NETWORK) == "none"
    assert render("{{with .Nope}}a{{else with .Name}}{{.}}{{end}}", NETWORK) == "cnm-net"
    assert render("{{with .Nope}}a{{else with .Labels}}b{{else}}c{{end}}", NETWORK) == "c"


def test_range_over_lists_dicts_and_ints():
    assert render("{{range .Args}}[{{.}}]{{end}}", NETWORK) == "[a][b][c]"
    assert render("{{range $i, $v := .Args}}{{$i}}={{$v}} {{end}}", NETWORK) == "0=a 1=b 2=c "
    assert render("{{range $v := .Args}}{{$v}}{{end}}", NETWORK) == "abc"
    data = {"M": {"zeta": 1, "alpha": 2, "mid": 3}}
    assert render("{{range $k, $v := .M}}{{$k}}:{{$v}} {{end}}", data) == "alpha:2 mid:3 zeta:1 "
    assert render("{{range .M}}{{.}}{{end}}", data) == "231"
    assert render("{{range 3}}{{.}}{{end}}", {}) == "012"
    assert render("{{range .T}}{{.}}{{end}}", {"T": ("x", "y")}) == "xy"


def test_range_else_break_and_continue():
    assert render("{{range .L}}x{{else}}empty{{end}}", {"L": []}) == "empty"
    assert render("{{range .Missing}}x{{else}}empty{{end}}", {}) == "empty"
    assert render("{{range .N}}x{{else}}empty{{end}}", {"N": None}) == "empty"
    text = "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}"
    assert render(text, [1, 2, 3, 4, 5]) == "13"


def test_range_errors():
    assert error_of("{{range .Name}}{{end}}", NETWORK).endswith("range can't iterate over cnm-net")
    assert "can't use 3 to iterate over more than one variable" in error_of(
        "{{range $i, $v := 3}}{{end}}"
    )


def test_nested_ranges_keep_their_variables():
    data = {"Outer": [{"Name": "o1", "Inner": [1, 2]}, {"Name": "o2", "Inner": [3]}]}
    text = "{{range $o := .Outer}}{{range .Inner}}{{$o.Name}}.{{.}} {{end}}{{end}}"
    assert render(text, data) == "o1.1 o1.2 o2.3 "


# --- builtin functions ------------------------------------------------------------------


def test_and_or_not():
    assert render("{{and 1 2 3}} {{and 1 0 3}} {{or 0 \"\" 5}} {{or 0 false}}", {}) == "3 0 5 false"
    assert render('{{or .Missing "default"}}', {}) == "default"
    assert render("{{or .Missing .Missing2}}", {}) == "<no value>"
    assert render("{{not 0}} {{not 1}} {{not .Missing}}", {}) == "true false true"
    # and/or stop evaluating at the deciding argument, like Go
    assert render("{{or .Name (index .Args 99)}}", NETWORK) == "cnm-net"
    assert render("{{and .Labels (index .Args 99)}}", NETWORK) == "map[]"
    assert render("{{1 | and true}}", {}) == "1"


def test_len():
    text = '{{len .Args}} {{len .Containers}} {{len "héllo"}} {{len ""}}'
    assert render(text, NETWORK) == "3 2 6 0"  # Go's len of a string counts bytes
    assert error_of("{{len 3}}") == (
        'template: :1:2: executing "" at <len 3>: error calling len: len of type int'
    )
    assert "len of nil pointer" in error_of("{{len .Missing}}", {})


def test_index():
    data = {"M": {"k": [10, {"x": "deep"}]}, "L": ["a", "b"], "S": "AB"}
    assert render('{{index .M "k" 0}}', data) == "10"
    assert render('{{index .M "k" 1 "x"}}', data) == "deep"
    assert render('{{index .M "nokey"}}', data) == "<no value>"
    assert render("{{index .L 1}} {{index .L}} {{index .S 1}}", data) == "b [a b] 66"
    assert error_of("{{index .L 5}}", data) == (
        'template: :1:2: executing "" at <index .L 5>: error calling index: index out of range: 5'
    )
    assert "index out of range: -1" in error_of("{{index .L -1}}", data)
    assert "cannot index slice/array with type string" in error_of('{{index .L "x"}}', data)
    assert "index of untyped nil" in error_of('{{index .Missing "x"}}', data)
    assert "can't index item of type int" in error_of("{{index 3 0}}", data)


def test_slice():
    data = {"L": [1, 2, 3, 4], "S": "hello"}
    assert render("{{slice .L 1 3}} {{slice .L 2}} {{slice .L}} {{slice .S 1 3}}", data) == (
        "[2 3] [3 4] [1 2 3 4] el"
    )
    assert render("{{slice .L 1 2 3}}", data) == "[2]"
    assert "index out of range: 9" in error_of("{{slice .L 9}}", data)
    assert "invalid slice index: 3 > 1" in error_of("{{slice .L 3 1}}", data)
    assert "cannot 3-index slice a string" in error_of("{{slice .S 1 2 3}}", data)


def test_print_and_println():
    assert render('{{print "a" "b" 1 2 true "c" 3}}', {}) == "ab1 2 truec3"
    assert render('{{println "a" 1 .Missing}}', {}) == "a 1 <nil>\n"
    assert render("{{print}}|{{println}}|", {}) == "|\n|"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{printf "%s|%v|%d" "s" "v" 42}}', "s|v|42"),
        ('{{printf "%5s|%-5s|%.2s" "ab" "ab" "abcdef"}}', "   ab|ab   |ab"),
        ('{{printf "%05d|%+d|%x|%X|%o|%b|%#x" 42 42 255 255 8 5 255}}',
         "00042|+42|ff|FF|10|101|0xff"),
        ('{{printf "%-6d|%6d|%.3d" 7 -7 7}}', "7     |    -7|007"),
        ('{{printf "%f|%.2f|%8.3f|%e|%g" 3.14159 3.14159 3.14159 1234.5 0.000012}}',
         "3.141590|3.14|   3.142|1.234500e+03|1.2e-05"),
        ('{{printf "%v|%v|%v" 1.0 1e21 2.5}}', "1|1e+21|2.5"),
        ('{{printf "%t|%v" true false}}', "true|false"),
        ('{{printf "%q" "say \\"hi\\"\\n"}}', '"say \\"hi\\"\\n"'),
        ('{{printf "%x|%X" "hi" "hi"}}', "6869|6869"),
        ('{{printf "%c" 65}}', "A"),
        ('{{printf "%T %T %T %T %T" "s" 1 1.5 true .L}}', "string int float64 bool []interface {}"),
        ('{{printf "%v" .L}}', "[1 2]"),
        ('{{printf "%03d" .L}}', "[001 002]"),
        ('{{printf "%v" .M}}', "map[a:1 b:2]"),
        ('{{printf "%v %s" .Missing .N}}', "<nil> %!s(<nil>)"),
        ('{{printf "100%%"}}', "100%"),
        ('{{printf "%d" "x"}}', "%!d(string=x)"),
        ('{{printf "%s" 5}}', "%!s(int=5)"),
        ('{{printf "%d %d" 1}}', "1 %!d(MISSING)"),
        ('{{printf "%d" 1 "x" 2}}', "1%!(EXTRA string=x, int=2)"),
        ('{{printf "%[2]s-%[1]s" "a" "b"}}', "b-a"),
        ('{{printf "tail %"}}', "tail %!(NOVERB)"),
    ],
)
def test_printf(text, expected):
    assert render(text, {"L": [1, 2], "M": {"b": 2, "a": 1}, "N": None}) == expected


def test_comparisons():
    assert render('{{eq 1 1}} {{eq 1 2}} {{eq "a" "b" "a"}} {{eq .Name "cnm-net"}}', NETWORK) == (
        "true false true true"
    )
    assert render("{{eq 1 1.0}} {{ne 1 2}} {{ne \"a\" \"a\"}}", {}) == "true true false"
    assert render("{{eq .Missing nil}} {{eq .Missing 1}} {{eq .N nil}}", {"N": None}) == (
        "true false true"
    )
    assert render('{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 2 3}} {{lt "a" "b"}}', {}) == (
        "true true false false true"
    )
    assert "error calling eq: incompatible types for comparison" in error_of('{{eq 1 "1"}}')
    assert "error calling lt: incompatible types for comparison" in error_of('{{lt 1 "1"}}')
    assert "error calling lt: invalid type for comparison" in error_of("{{lt true false}}")
    assert "error calling eq: non-comparable type" in error_of("{{eq .L .L}}", {"L": [1]})
    assert "error calling eq: missing argument for comparison" in error_of("{{eq 1}}")


def test_wrong_number_of_arguments():
    assert error_of("{{upper}}") == (
        'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 0'
    )
    assert "wrong number of args for printf: want at least 1 got 0" in error_of("{{printf}}")
    assert "wrong number of args for not: want 1 got 2" in error_of("{{not 1 2}}")
    assert "wrong number of args for and: want at least 1 got 0" in error_of("{{and}}")


# --- Docker's functions -----------------------------------------------------------------


def test_json_matches_go_marshal():
    data = {
        "Z": 1, "A": "<b>&é", "F": 2.0, "G": 1.5, "N": None, "B": True, "L": [1, "x"],
        "Sep": "\u2028",
    }
    assert render("{{json .}}", data) == (
        '{"Z":1,"A":"<b>&é","F":2,"G":1.5,"N":null,"B":true,"L":[1,"x"],"Sep":"\\u2028"}'
    )
    assert render("{{json .Missing}}", {}) == "null"
    assert render("{{json .Name}}", NETWORK) == '"cnm-net"'
    assert render('{{json .}}', Endpoint()) == '{"Name":"ep0","Labels":{"com.example.k":"v"}}'
    assert "json: unsupported value: NaN" in error_of("{{json .}}", float("nan"))


def test_string_functions():
    assert render('{{join .L ", "}}', {"L": ["a", 1, True]}) == "a, 1, true"
    assert render('{{split "a,b,,c" ","}}', {}) == "[a b  c]"
    assert render('{{split "abc" ""}}', {}) == "[a b c]"
    assert render('{{index (split "k=v" "=") 1}}', {}) == "v"
    assert render('{{upper "aBc"}} {{lower "AbC"}}', {}) == "ABC abc"
    assert render('{{title "hello wORLD-foo_bar"}}', {}) == "Hello WORLD-Foo_bar"
    assert render('[{{pad "ab" 2 3}}] [{{pad "" 2 3}}]', {}) == "[  ab   ] []"
    assert render('{{truncate "abcdef" 3}} {{truncate "ab" 3}} {{truncate "abc" 3}}', {}) == (
        "abc ab abc"
    )


def test_docker_function_argument_types():
    assert error_of("{{upper 3}}") == (
        'template: :1:2: executing "" at <upper 3>: wrong type for value; expected string; got int'
    )
    assert "invalid value; expected string" in error_of("{{lower .Missing}}", {})
    assert "wrong type for value; expected []string; got string" in error_of('{{join "ab" ","}}')
    assert "wrong type for value; expected int; got string" in error_of('{{pad "a" "1" 1}}')
    assert "error calling pad: strings: negative Repeat count" in error_of('{{pad "a" -1 1}}')


# --- printing values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("s", "s"), (True, "true"), (False, "false"), (0, "0"), (-12, "-12"), (10**20, str(10**20)),
        (1.5, "1.5"), (2.0, "2"), (-0.0, "-0"), (0.1, "0.1"), (100000.0, "100000"),
        (1234567.0, "1.234567e+06"), (1e21, "1e+21"), (0.0001, "0.0001"), (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"), (float("nan"), "NaN"),
        (None, "<nil>"), ([], "[]"), (["a", 1, None, [2.5]], "[a 1 <nil> [2.5]]"),
        ({}, "map[]"), ({"b": 1, "a": [True]}, "map[a:[true] b:1]"), ((1, 2), "[1 2]"),
    ],
)
def test_value_printing(value, printed):
    assert render("{{.V}}", {"V": value}) == printed


# --- parse errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{foo}}", 'template: :1: function "foo" not defined'),
        ("{{.Name | foo}}", 'template: :1: function "foo" not defined'),
        ("{{.Name", "template: :1: unclosed action"),
        ("a\nb {{.Name", "template: :2: unclosed action"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{if .A}}x", "template: :1: unexpected EOF"),
        ("{{range .A}}x{{else}}y", "template: :1: unexpected EOF"),
        ("{{if 1}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
        ("{{range .L}}{{else if 1}}{{end}}", "template: :1: unexpected <if> in else"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{if}}{{end}}", "template: :1: missing value for if"),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{`abc}}", "template: :1: unterminated raw quoted string"),
        ('{{"\\q"}}', 'template: :1: invalid syntax in "\\q"'),
        ("{{'ab'}}", "template: :1: malformed character constant: 'ab'"),
        ("{{12ab}}", 'template: :1: bad number syntax: "12ab"'),
        ("{{.A@}}", "template: :1: bad character U+0040 '@'"),
        ("{{1 | 2}}", "template: :1: non executable command in pipeline stage 2"),
        ("{{(.A}}", "template: :1: unclosed left paren"),
        ("{{.A)}}", "template: :1: unexpected right paren"),
        ("{{/* no end", "template: :1: unclosed comment"),
        ("{{/* c */ .A}}", "template: :1: comment ends before closing delimiter"),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{if 1}}{{continue}}{{end}}", "template: :1: {{continue}} outside {{range}}"),
        ('{{define "x"}}{{end}}', "template: :1: {{define}} is not supported"),
        ('{{template "x"}}', "template: :1: {{template}} is not supported"),
        ('{{"a".B}}', 'template: :1: unexpected . after term "\\"a\\""'),
        ("{{.A | }}", 'template: :1: unexpected "}}" in command'),
        ("{{.A :}}", "template: :1: expected :="),
        ("{{$x, $y := 1}}", "template: :1: too many declarations in command"),
        ("{{range $i, 3 := .}}{{end}}", "template: :1: range can only initialize variables"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(TemplateError) as info:
        compile_template(text)
    assert str(info.value) == message


# --- execution errors are always TemplateError, one line ---------------------------------


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("no str")


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("{{.A.B}}", {"A": "str"}),
        ("{{index .L 5}}", {"L": []}),
        ("{{slice .L 0 9}}", {"L": []}),
        ("{{.}}", Unprintable()),
        ("{{printf \"%v\" .}}", Unprintable()),
        ("{{json .}}", {"x": float("inf")}),
        ("{{nil}}", {}),
        ('{{1 "x"}}', {}),
        ("{{$x := 1}}{{$x 2}}", {}),
        ("{{len .}}", 3.5),
        ("{{upper .}}", ["a"]),
        ("{{range .}}{{end}}", 1.5),
        ("{{.Label \"a\" \"b\"}}", Endpoint()),
    ],
)
def test_execution_errors_are_template_errors(text, data):
    message = error_of(text, data)
    assert message.startswith("template: ")
    assert "\n" not in message


def test_deeply_nested_data_is_reported_not_raised():
    nested: list = []
    nested.append(nested)  # self-referential: printing recurses forever
    assert error_of("{{.}}", nested).startswith('template: :1:2: executing "" at <.>: ')


def test_messages_are_single_line():
    assert "\n" not in error_of("{{`a\nb`.C}}")
    endpoint = Endpoint()
    endpoint.Broken = lambda: (_ for _ in ()).throw(RuntimeError("two\nlines"))
    assert "\n" not in error_of("{{.Broken}}", endpoint)


# --- API ------------------------------------------------------------------------------------


def test_template_error_is_invalid_argument():
    assert issubclass(TemplateError, InvalidArgument)
    with pytest.raises(InvalidArgument):
        render("{{foo}}", {})


def test_compile_is_cached_and_reusable():
    first = compile_template("{{.Name}}")
    assert isinstance(first, Template)
    assert compile_template("{{.Name}}") is first
    assert first.execute({"Name": "a"}) == "a"
    assert first.execute({"Name": "b"}) == "b"


def test_execute_does_not_leak_variables_between_runs():
    template = compile_template("{{$x := .}}{{$x}}")
    assert template.execute(1) == "1"
    assert template.execute(2) == "2"
