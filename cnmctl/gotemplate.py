"""A hand-written subset of Go's ``text/template`` for ``--format`` / ``-f``.

Docker users pass Go templates such as ``{{range .IPAM.Config}}{{.Subnet}}{{end}}``
or ``{{json .Options}}``.  No Python library implements Go template semantics
(Jinja2 and friends differ in syntax, truthiness, missing-key handling, value
printing and pipelines), so this module implements the part Docker users rely on
with a small lexer, a parser that builds a node tree, and an evaluator.

Supported: text; actions; ``{{-`` / ``-}}`` trim markers; ``{{/* comments */}}``;
``.`` and ``$``; field chains (``.A.B``, ``$x.A``, ``(pipe).A``); variables
(``:=`` and ``=``); string, raw-string, number, character, bool and nil literals;
pipelines; ``if`` / ``else if``; ``range`` (``else``, one or two variables, over
lists, dicts in sorted key order and integers, ``break`` / ``continue``);
``with`` / ``else with``; Go's builtins and, or, not, len, index, slice, print,
printf, println, eq, ne, lt, le, gt, ge; Docker's json, join, split, upper, lower,
title, pad and truncate.

Not supported: named templates (``define`` / ``template`` / ``block``), custom
delimiters, the html / js / urlquery / call builtins, ``printf`` ``*`` widths and
the ``%U`` / ``%p`` verbs.  Unlike Go, ``eq`` accepts an int and a float together
(Python data does not keep Go's static number types).

Data is plain Python: a ``dict`` acts as a Go struct or map (insertion order is
field order; a missing key is Go's "no value"), lists and tuples act as slices,
and any other object exposes its attributes as fields and its callables as
methods.  Every failure surfaces as :class:`TemplateError` with Go's one-line
wording, e.g. ``template: :1:2: executing "" at <.X>: can't evaluate field X in
type string``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from functools import lru_cache

from cnmctl.errors import InvalidArgument

__all__ = ["Template", "TemplateError", "compile_template", "render"]


class TemplateError(InvalidArgument):
    """A template failed to parse or execute; the one-line message starts ``template: ``."""

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


class _Missing:
    """Go's "no value": what a missing map key evaluates to."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


_MISSING = _Missing()
_NO_FINAL = object()  # nothing was piped into the command
_INF = float("inf")

# ---------------------------------------------------------------------------
# Lexer: tokens are tuples (kind, source text, offset, value).

_TEXT, _LEFT, _RIGHT, _SPACE, _EOF = "text", "{{", "}}", "space", "EOF"
_FIELD, _VAR, _DOT, _IDENT, _KEYWORD = "field", "variable", "dot", "identifier", "keyword"
_STRING, _NUMBER, _BOOL, _NIL = "string", "number", "bool", "nil"
_PIPE, _LPAREN, _RPAREN, _COMMA, _DECLARE, _ASSIGN = "|", "(", ")", ",", ":=", "="

_SPACES = " \t\r\n"
_TERMINATORS = _SPACES + ".,|:()="
_KEYWORDS = frozenset(
    ("if", "else", "end", "range", "with", "break", "continue", "define", "template", "block")
)
_OPERAND_KINDS = frozenset((_BOOL, _DOT, _FIELD, _IDENT, _NIL, _NUMBER, _STRING, _VAR, _LPAREN))
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"',
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _parse_error(text: str, pos: int, message: str) -> TemplateError:
    return TemplateError(f"template: :{text.count(chr(10), 0, pos) + 1}: {message}")


def _is_digit(char: str) -> bool:
    return len(char) == 1 and "0" <= char <= "9"


def _lex(text: str) -> list[tuple]:
    """Split *text* into text runs, delimiters and the words inside actions."""
    tokens: list[tuple] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_SPACES)
        if start < 0:
            if chunk:
                tokens.append((_TEXT, chunk, pos, chunk))
            tokens.append((_EOF, "EOF", len(text), None))
            return tokens
        inner = start + 2
        if text.startswith("-", inner) and inner + 1 < len(text) and text[inner + 1] in _SPACES:
            chunk = chunk.rstrip(_SPACES)
            inner += 2
        if chunk:
            tokens.append((_TEXT, chunk, pos, chunk))
        if text.startswith("/*", inner):
            pos, trim_next = _lex_comment(text, inner)
        else:
            tokens.append((_LEFT, "{{", start, None))
            pos, trim_next = _lex_action(text, inner, tokens)


def _lex_comment(text: str, pos: int) -> tuple[int, bool]:
    end = text.find("*/", pos + 2)
    if end < 0:
        raise _parse_error(text, pos, "unclosed comment")
    after = end + 2
    if text.startswith("}}", after):
        return after + 2, False
    if text.startswith("-}}", after + 1) and text[after] in _SPACES:
        return after + 4, True
    raise _parse_error(text, pos, "comment ends before closing delimiter")


def _lex_action(text: str, pos: int, tokens: list[tuple]) -> tuple[int, bool]:
    """Lex one action up to its closing delimiter; return (next offset, trim following text)."""
    start, depth, size = pos, 0, len(text)
    while True:
        if pos >= size:
            raise _parse_error(text, start, "unclosed action")
        char = text[pos]
        if char in _SPACES:
            end = pos
            while end < size and text[end] in _SPACES:
                end += 1
            if not text.startswith("-}}", end):
                tokens.append((_SPACE, text[pos:end], pos, None))
                pos = end
                continue
            close, after, trim = end - 1, end + 3, True
        elif text.startswith("}}", pos):
            close, after, trim = pos, pos + 2, False
        elif char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                raise _parse_error(text, pos, "unexpected right paren")
            tokens.append((_LPAREN if char == "(" else _RPAREN, char, pos, None))
            pos += 1
            continue
        else:
            pos = _lex_word(text, pos, tokens)
            continue
        if depth:
            raise _parse_error(text, close, "unclosed left paren")
        tokens.append((_RIGHT, "}}", close, None))
        return after, trim


def _lex_word(text: str, pos: int, tokens: list[tuple]) -> int:
    """Lex one token inside an action starting at *pos*; return the offset after it."""
    char = text[pos]
    following = text[pos + 1 : pos + 2]
    if char in "|,=":
        tokens.append((char, char, pos, None))
        return pos + 1
    if char == ":":
        if following != "=":
            raise _parse_error(text, pos, "expected :=")
        tokens.append((_DECLARE, ":=", pos, None))
        return pos + 2
    if char in "\"'":
        return _lex_quoted(text, pos, tokens)
    if char == "`":
        end = text.find("`", pos + 1)
        if end < 0:
            raise _parse_error(text, pos, "unterminated raw quoted string")
        tokens.append((_STRING, text[pos : end + 1], pos, text[pos + 1 : end]))
        return end + 1
    signed_number = char in "+-" and (_is_digit(following) or following == ".")
    if _is_digit(char) or signed_number or (char == "." and _is_digit(following)):
        return _lex_number(text, pos, tokens)
    if char in "$." or char.isalpha() or char == "_":
        end = pos + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end < len(text) and text[end] not in _TERMINATORS and not text.startswith("}}", end):
            raise _parse_error(text, end, f"bad character U+{ord(text[end]):04X} {text[end]!r}")
        word = text[pos:end]
        if char == "$":
            tokens.append((_VAR, word, pos, word))
        elif char == ".":
            tokens.append((_DOT, word, pos, None) if word == "." else (_FIELD, word, pos, word[1:]))
        elif word in ("true", "false"):
            tokens.append((_BOOL, word, pos, word == "true"))
        elif word == "nil":
            tokens.append((_NIL, word, pos, None))
        else:
            tokens.append((_KEYWORD if word in _KEYWORDS else _IDENT, word, pos, word))
        return end
    raise _parse_error(text, pos, f"bad character U+{ord(char):04X} {char!r}")


def _lex_quoted(text: str, pos: int, tokens: list[tuple]) -> int:
    quote, end = text[pos], pos + 1
    what = "quoted string" if quote == '"' else "character constant"
    while True:
        if end >= len(text) or text[end] == "\n":
            raise _parse_error(text, pos, f"unterminated {what}")
        if text[end] == "\\":
            end += 1 if text[end + 1 : end + 2] in ("", "\n") else 2
        elif text[end] == quote:
            break
        else:
            end += 1
    raw = text[pos : end + 1]
    value = _unescape(raw[1:-1], text, pos)
    if quote == "'":
        if len(value) != 1:
            raise _parse_error(text, pos, f"malformed character constant: {raw}")
        tokens.append((_NUMBER, raw, pos, ord(value)))
    else:
        tokens.append((_STRING, raw, pos, value))
    return end + 1


def _unescape(body: str, text: str, pos: int) -> str:
    """Decode Go escapes (\\n, \\t, \\", \\\\, \\xHH, \\uHHHH, \\ooo, ...) in a literal."""
    if "\\" not in body:
        return body
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1 : index + 2]
        if escape and escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            index += 2
            continue
        if escape and escape in "xuU":
            base, start, width, limit = 16, index + 2, {"x": 2, "u": 4, "U": 8}[escape], 0x10FFFF
        elif escape and escape in "01234567":
            base, start, width, limit = 8, index + 1, 3, 255
        else:
            raise _parse_error(text, pos, f"invalid syntax in {text[pos : pos + len(body) + 2]}")
        digits = body[start : start + width]
        allowed = _HEX_DIGITS if base == 16 else _HEX_DIGITS & set("01234567")
        if len(digits) != width or not set(digits) <= allowed or int(digits, base) > limit:
            raise _parse_error(text, pos, f"invalid syntax in {text[pos : pos + len(body) + 2]}")
        out.append(chr(int(digits, base)))
        index = start + width
    return "".join(out)


def _lex_number(text: str, pos: int, tokens: list[tuple]) -> int:
    end = pos + 1
    while end < len(text):
        char = text[end]
        if char.isalnum() or char in "._" or (char in "+-" and text[end - 1] in "eE"):
            end += 1
        else:
            break
    raw = text[pos:end]
    body = raw.lstrip("+-")
    try:
        if body[:2] not in ("0x", "0X") and any(char in body for char in ".eE"):
            value: int | float = float(raw)
        elif len(body) > 1 and body[0] == "0" and _is_digit(body[1]):
            value = int(raw, 8)
        else:
            value = int(raw, 0)
    except ValueError:
        raise _parse_error(text, pos, f'bad number syntax: "{raw}"') from None
    tokens.append((_NUMBER, raw, pos, value))
    return end


# ---------------------------------------------------------------------------
# Parse tree.


class _Node:
    """A parse-tree node: its offset in the text, its fields, and its source form as str()."""

    __slots__ = ("pos",)

    def __init__(self, pos: int, *values: object) -> None:
        self.pos = pos
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


class _Text(_Node):
    __slots__ = ("text",)


class _Action(_Node):
    __slots__ = ("pipe",)

    def __str__(self) -> str:
        return f"{{{{{self.pipe}}}}}"


class _Control(_Node):
    """``if``, ``range`` or ``with``: kind, pipe, body and else body (None without else)."""

    __slots__ = ("kind", "pipe", "body", "else_body")

    def __str__(self) -> str:
        return f"{{{{{self.kind} {self.pipe}}}}}"


class _LoopJump(_Node):
    """``{{break}}`` or ``{{continue}}``."""

    __slots__ = ("name",)


class _Pipe(_Node):
    """Commands joined by ``|``, with the variables (``decls``) the result is stored in."""

    __slots__ = ("decls", "is_assign", "cmds")

    def __str__(self) -> str:
        text = " | ".join(map(str, self.cmds))
        if self.decls:
            text = f"{', '.join(self.decls)} {'=' if self.is_assign else ':='} {text}"
        return text


class _Command(_Node):
    __slots__ = ("args",)

    def __str__(self) -> str:
        return " ".join(map(str, self.args))


class _Field(_Node):
    __slots__ = ("names",)

    def __str__(self) -> str:
        return "." + ".".join(self.names)


class _Variable(_Node):
    __slots__ = ("name", "names")

    def __str__(self) -> str:
        return self.name + "".join("." + name for name in self.names)


class _Chain(_Node):
    """Fields applied to a parenthesised pipeline or a function result: ``(x).A.B``."""

    __slots__ = ("node", "names")

    def __str__(self) -> str:
        return str(self.node) + "".join("." + name for name in self.names)


class _Paren(_Node):
    __slots__ = ("pipe",)

    def __str__(self) -> str:
        return f"({self.pipe})"


class _Identifier(_Node):
    __slots__ = ("name",)

    def __str__(self) -> str:
        return self.name


class _Literal(_Node):
    """``.``, ``nil``, a bool, a number or a string: *text* is its source form."""

    __slots__ = ("text", "value")

    def __str__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------
# Parser.


class _Parser:
    """Recursive-descent parser over the token list, following text/template/parse."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.index = 0
        self.variables = ["$"]
        self.range_depth = 0

    def error(self, pos: int, message: str) -> TemplateError:
        return _parse_error(self.text, pos, message)

    def unexpected(self, token: tuple, context: str) -> TemplateError:
        kind, text = token[0], token[1]
        if kind == _EOF:
            shown = "EOF"
        elif kind == _KEYWORD:
            shown = f"<{text}>"
        else:
            shown = _quote_string(text[:10]) + ("..." if len(text) > 10 else "")
        return self.error(token[2], f"unexpected {shown} in {context}")

    def next(self) -> tuple:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def next_non_space(self) -> tuple:
        token = self.next()
        while token[0] == _SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> tuple:
        saved = self.index
        token = self.next_non_space()
        self.index = saved
        return token

    def expect_right(self, context: str) -> None:
        token = self.next_non_space()
        if token[0] != _RIGHT:
            raise self.unexpected(token, context)

    def check_variable(self, token: tuple) -> None:
        if token[1] not in self.variables:
            raise self.error(token[2], f'undefined variable "{token[1]}"')

    def parse(self) -> list:
        nodes, stop = self.parse_list()
        if stop is not None:
            raise self.error(stop[2], f"unexpected {{{{{stop[1]}}}}}")
        return nodes

    def parse_list(self) -> tuple[list, tuple | None]:
        """Parse until EOF, ``{{end}}`` or ``{{else``; return the nodes and the stopping keyword."""
        nodes: list = []
        while True:
            token = self.next()
            if token[0] == _EOF:
                return nodes, None
            if token[0] == _TEXT:
                nodes.append(_Text(token[2], token[3]))
                continue
            word = self.peek_non_space()
            if word[0] != _KEYWORD:
                nodes.append(_Action(word[2], self.parse_pipeline("command", _RIGHT)))
                continue
            self.next_non_space()
            name = word[1]
            if name == "end":
                self.expect_right("end")
                return nodes, word
            if name == "else":
                return nodes, word
            if name in ("if", "range", "with"):
                nodes.append(self.parse_control(name, word[2]))
            elif name in ("break", "continue"):
                if not self.range_depth:
                    raise self.error(word[2], f"{{{{{name}}}}} outside {{{{range}}}}")
                self.expect_right(name)
                nodes.append(_LoopJump(word[2], name))
            else:
                raise self.error(word[2], f"{{{{{name}}}}} is not supported")

    def parse_control(self, kind: str, pos: int) -> _Control:
        mark = len(self.variables)
        pipe = self.parse_pipeline(kind, _RIGHT)
        self.range_depth += kind == "range"
        body, stop = self.parse_list()
        self.range_depth -= kind == "range"
        if stop is None:
            raise self.error(len(self.text), "unexpected EOF")
        else_body = None
        if stop[1] == "else":
            follow = self.peek_non_space()
            if kind != "range" and follow[0] == _KEYWORD and follow[1] == kind:
                # "else if" / "else with": a nested control that shares our {{end}}
                self.next_non_space()
                else_body = [self.parse_control(kind, follow[2])]
            else:
                self.expect_right("else")
                else_body, stop = self.parse_list()
                if stop is None:
                    raise self.error(len(self.text), "unexpected EOF")
                if stop[1] != "end":
                    raise self.error(stop[2], "expected end; found {{else}}")
        del self.variables[mark:]
        return _Control(pos, kind, pipe, body, else_body)

    def parse_pipeline(self, context: str, end: str) -> _Pipe:
        start = self.peek_non_space()
        decls: list[str] = []
        is_assign = False
        if start[0] == _VAR:
            saved = self.index
            variable = self.next_non_space()
            op_token = self.next_non_space()
            if op_token[0] in (_DECLARE, _ASSIGN):
                decls, is_assign = [variable[1]], op_token[0] == _ASSIGN
                if is_assign:
                    self.check_variable(variable)
            elif op_token[0] == _COMMA and context == "range":
                second, op_token = self.next_non_space(), self.next_non_space()
                if second[0] != _VAR or op_token[0] != _DECLARE:
                    raise self.error(second[2], "range can only initialize variables")
                decls = [variable[1], second[1]]
            elif op_token[0] == _COMMA:
                raise self.error(op_token[2], f"too many declarations in {context}")
            else:
                self.index = saved
        cmds: list[_Command] = []
        while True:
            token = self.next_non_space()
            if token[0] == end and not cmds:
                raise self.error(token[2], f"missing value for {context}")
            if token[0] not in _OPERAND_KINDS:
                raise self.unexpected(token, context)
            self.index -= 1
            command, piped = self.parse_command()
            cmds.append(command)
            if not piped:
                token = self.next_non_space()
                if token[0] != end:
                    raise self.unexpected(token, context)
                break
        for stage, command in enumerate(cmds[1:], start=2):
            if type(command.args[0]) is _Literal:
                raise self.error(command.pos, f"non executable command in pipeline stage {stage}")
        if not is_assign:
            self.variables.extend(decls)
        return _Pipe(start[2], decls, is_assign, cmds)

    def parse_command(self) -> tuple[_Command, bool]:
        """Parse space-separated operands; return the command and whether a ``|`` ended it."""
        command = _Command(self.peek_non_space()[2], [])
        while True:
            while self.tokens[self.index][0] == _SPACE:
                self.index += 1
            operand = self.parse_operand()
            if operand is not None:
                command.args.append(operand)
            token = self.next()
            if token[0] == _SPACE:
                continue
            if token[0] in (_RIGHT, _RPAREN):
                self.index -= 1
            elif token[0] != _PIPE:
                raise self.unexpected(token, "operand")
            if not command.args:
                raise self.error(command.pos, "empty command")
            return command, token[0] == _PIPE

    def parse_operand(self) -> _Node | None:
        node = self.parse_term()
        if node is None or self.tokens[self.index][0] != _FIELD:
            return node
        names = []
        while self.tokens[self.index][0] == _FIELD:
            names.append(self.next()[3])
        if type(node) is _Field:
            return _Field(node.pos, node.names + names)
        if type(node) is _Variable:
            return _Variable(node.pos, node.name, node.names + names)
        if type(node) in (_Paren, _Identifier):
            return _Chain(node.pos, node, names)
        raise self.error(node.pos, f"unexpected . after term {_quote_string(str(node))}")

    def parse_term(self) -> _Node | None:
        token = self.next_non_space()
        kind, text, pos, value = token
        if kind == _FIELD:
            return _Field(pos, [value])
        if kind == _VAR:
            self.check_variable(token)
            return _Variable(pos, text, [])
        if kind == _IDENT:
            if text not in _FUNCTIONS:
                raise self.error(pos, f'function "{text}" not defined')
            return _Identifier(pos, text)
        if kind in (_STRING, _NUMBER, _BOOL, _NIL, _DOT):
            return _Literal(pos, text, value)
        if kind == _LPAREN:
            return _Paren(pos, self.parse_pipeline("parenthesized pipeline", _RPAREN))
        self.index -= 1
        return None


# ---------------------------------------------------------------------------
# Evaluator.


class _Failure(Exception):
    """An execution error; :meth:`Template.execute` adds the location and node."""


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


_PLAIN_TYPES = (str, bytes, int, float, list, tuple, set, frozenset)


class _Executor:
    """Walks a parse tree for one :meth:`Template.execute` call."""

    def __init__(self, data: object) -> None:
        self.variables: list[list] = [["$", data]]
        self.out: list[str] = []
        self.node: _Node | None = None  # the node being evaluated, for error messages

    def walk(self, dot: object, nodes: list) -> None:
        for node in nodes:
            kind = type(node)
            if kind is _Text:
                self.out.append(node.text)
            elif kind is _Action:
                value = self.eval_pipe(dot, node.pipe)
                if not node.pipe.decls:
                    self.out.append(_format_value(value))
            elif kind is _Control:
                self.walk_control(dot, node)
            else:
                raise _BreakLoop if node.name == "break" else _ContinueLoop

    def walk_control(self, dot: object, node: _Control) -> None:
        mark = len(self.variables)
        try:
            value = self.eval_pipe(dot, node.pipe)
            if node.kind == "range":
                self.walk_range(dot, node, value)
            elif _truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.variables[mark:]

    def walk_range(self, dot: object, node: _Control, value: object) -> None:
        self.node = node
        decls = len(node.pipe.decls)
        if value is None or value is _MISSING:
            items: object = ()
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        elif isinstance(value, dict):
            items = [(key, value[key]) for key in _sorted_keys(value)]
        elif isinstance(value, int) and not isinstance(value, bool):
            if decls > 1:
                raise _Failure(f"can't use {value} to iterate over more than one variable")
            items = ((number, number) for number in range(value))
        else:
            raise _Failure(f"range can't iterate over {_format_value(value)}")
        mark, ran = len(self.variables), False
        for key, element in items:
            ran = True
            if decls == 2:
                self.variables[mark - 2][1] = key
            if decls:
                self.variables[mark - 1][1] = element
            try:
                self.walk(element, node.body)
            except _ContinueLoop:
                pass
            except _BreakLoop:
                break
            finally:
                del self.variables[mark:]
        if not ran and node.else_body is not None:
            self.walk(dot, node.else_body)

    def eval_pipe(self, dot: object, pipe: _Pipe) -> object:
        value = _NO_FINAL
        for command in pipe.cmds:
            value = self.eval_command(dot, command, value)
        for name in pipe.decls:
            if pipe.is_assign:
                self.lookup(name, pipe)[1] = value
            else:
                self.variables.append([name, value])
        return value

    def eval_command(self, dot: object, command: _Command, final: object) -> object:
        first = command.args[0]
        kind = type(first)
        if kind is _Field:
            return self.eval_fields(dot, dot, first, command.args, final)
        if kind is _Chain:
            return self.eval_fields(dot, self.eval_arg(dot, first.node), first, command.args, final)
        if kind is _Variable and first.names:
            value = self.lookup(first.name, first)[1]
            return self.eval_fields(dot, value, first, command.args, final)
        if kind is _Identifier:
            return self.eval_function(dot, first, command, final)
        self.node = first
        if len(command.args) > 1 or final is not _NO_FINAL:
            raise _Failure(f"can't give argument to non-function {first}")
        if kind is _Literal and first.text == "nil":
            raise _Failure("nil is not a command")
        return self.eval_arg(dot, first)

    def eval_arg(self, dot: object, node: _Node) -> object:
        """Evaluate an operand used as an argument (no arguments of its own)."""
        self.node = node
        kind = type(node)
        if kind is _Literal:
            return dot if node.text == "." else node.value
        if kind is _Field:
            return self.eval_fields(dot, dot, node, (node,), _NO_FINAL)
        if kind is _Variable:
            value = self.lookup(node.name, node)[1]
            return self.eval_fields(dot, value, node, (node,), _NO_FINAL) if node.names else value
        if kind is _Chain:
            return self.eval_fields(dot, self.eval_arg(dot, node.node), node, (node,), _NO_FINAL)
        if kind is _Paren:
            return self.eval_pipe(dot, node.pipe)
        return self.eval_function(dot, node, _Command(node.pos, [node]), _NO_FINAL)

    def eval_fields(
        self, dot: object, receiver: object, node: _Node, args: tuple | list, final: object
    ) -> object:
        """Follow ``node.names`` from *receiver*; the last field receives args[1:] and *final*."""
        for name in node.names[:-1]:
            receiver = self.eval_field(dot, receiver, name, node, (), _NO_FINAL)
        return self.eval_field(dot, receiver, node.names[-1], node, args[1:], final)

    def eval_field(
        self, dot: object, receiver: object, name: str, node: _Node, arg_nodes: tuple | list,
        final: object,
    ) -> object:
        self.node = node
        has_args = bool(arg_nodes) or final is not _NO_FINAL
        if receiver is _MISSING:
            return _MISSING
        if isinstance(receiver, dict):
            if has_args:
                raise _Failure(f"{name} is not a method but has arguments")
            return receiver.get(name, _MISSING)
        if receiver is None or isinstance(receiver, _PLAIN_TYPES) or name.startswith("_"):
            raise _Failure(f"can't evaluate field {name} in type {_go_type(receiver)}")
        try:
            attribute = getattr(receiver, name)
        except AttributeError:
            raise _Failure(f"can't evaluate field {name} in type {_go_type(receiver)}") from None
        if not callable(attribute):
            if has_args:
                raise _Failure(f"{name} has arguments but cannot be invoked as function")
            return attribute
        args = [self.eval_arg(dot, arg) for arg in arg_nodes]
        if final is not _NO_FINAL:
            args.append(final)
        self.node = node
        try:
            return attribute(*[None if arg is _MISSING else arg for arg in args])
        except Exception as exc:
            raise _Failure(f"error calling {name}: {exc}") from None

    def eval_function(
        self, dot: object, ident: _Identifier, command: _Command, final: object
    ) -> object:
        name = ident.name
        function, least, most, sees_missing = _FUNCTIONS[name]
        arg_nodes = command.args[1:]
        count = len(arg_nodes) + (final is not _NO_FINAL)
        self.node = ident
        if count < least or (most is not None and count > most):
            want = f"at least {least}" if most is None else str(least)
            raise _Failure(f"wrong number of args for {name}: want {want} got {count}")
        if function is None:  # and / or evaluate lazily and stop at the deciding value
            value = None
            for arg in arg_nodes:
                value = self.eval_arg(dot, arg)
                if _truth(value) == (name == "or"):
                    return value
            return final if final is not _NO_FINAL else value
        args = [self.eval_arg(dot, arg) for arg in arg_nodes]
        if final is not _NO_FINAL:
            args.append(final)
        if not sees_missing:
            args = [None if arg is _MISSING else arg for arg in args]
        self.node = command
        try:
            return function(*args)
        except _Failure:
            raise
        except Exception as exc:
            raise _Failure(f"error calling {name}: {exc}") from None

    def lookup(self, name: str, node: _Node) -> list:
        """Return the innermost ``[name, value]`` entry of variable *name*."""
        for entry in reversed(self.variables):
            if entry[0] == name:
                return entry
        self.node = node
        raise _Failure(f"undefined variable: {name}")


# ---------------------------------------------------------------------------
# Values: truth, printing (Go's %v) and printf.


def _truth(value: object) -> bool:
    """Go's truthiness: false, 0, nil, no value and empty string/list/map are false."""
    if value is None or value is _MISSING:
        return False
    if isinstance(value, (bool, int, float)):
        return value != 0
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value) > 0
    return True


def _go_type(value: object) -> str:
    if value is None or value is _MISSING:
        return "<nil>"
    for python_type, go_name in _GO_TYPE_NAMES:
        if isinstance(value, python_type):
            return go_name
    return type(value).__name__


_GO_TYPE_NAMES = (
    (bool, "bool"), (int, "int"), (float, "float64"), (str, "string"),
    ((list, tuple), "[]interface {}"), (dict, "map[string]interface {}"),
)


def _sorted_keys(mapping: dict) -> list:
    try:
        return sorted(mapping)
    except TypeError:
        return sorted(mapping, key=lambda key: (type(key).__name__, _format_value(key)))


def _format_value(value: object) -> str:
    """Print *value* the way text/template (fmt's %v) does."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if value is _MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(map(_format_value, value)) + "]"
    if isinstance(value, dict):
        pairs = (f"{_format_value(key)}:{_format_value(value[key])}" for key in _sorted_keys(value))
        return "map[" + " ".join(pairs) + "]"
    return str(value)


def _format_float(value: float) -> str:
    """Go's %v for float64: shortest digits, exponent form below 1e-4 or from 1e+06."""
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    sign = "-" if text[0] == "-" else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0")
    if not significant:
        return sign + "0"
    exp10 = int(exponent or 0) + len(whole) - 1 - (len(digits) - len(significant))
    significant = significant.rstrip("0")
    if exp10 < -4 or exp10 >= 6:
        tail = "." + significant[1:] if len(significant) > 1 else ""
        return f"{sign}{significant[0]}{tail}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 < 0:
        return f"{sign}0.{'0' * (-exp10 - 1)}{significant}"
    head = significant[: exp10 + 1].ljust(exp10 + 1, "0")
    rest = significant[exp10 + 1 :]
    return sign + head + ("." + rest if rest else "")


_QUOTE_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    "\\": "\\\\",
}


def _quote_char(char: str, quote: str, ascii_only: bool) -> str:
    if char == quote:
        return "\\" + char
    if char in _QUOTE_ESCAPES:
        return _QUOTE_ESCAPES[char]
    if char.isprintable() and (char.isascii() or not ascii_only):
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quote_string(text: str, flags: str = "") -> str:
    """Go's strconv.Quote (``%q``); ``#`` prefers back quotes, ``+`` escapes non-ASCII."""
    if "#" in flags and "`" not in text and all(c == "\t" or c.isprintable() for c in text):
        return f"`{text}`"
    return '"' + "".join(_quote_char(char, '"', "+" in flags) for char in text) + '"'


def _pad(text: str, spec: tuple) -> str:
    """Pad *text* to the width of a printf *spec* ``(flags, width, precision)``."""
    flags, width, _ = spec
    if not width or len(text) >= width:
        return text
    fill = " " * (width - len(text))
    return text + fill if "-" in flags else fill + text


def _signed(negative: bool, body: str, spec: tuple, zero_pad: bool = True) -> str:
    """Prefix the sign the flags ask for, zero-fill for ``0``, then pad."""
    flags, width, _ = spec
    sign = "-" if negative else "+" if "+" in flags else " " if " " in flags else ""
    if zero_pad and "0" in flags and "-" not in flags and width:
        body = body.zfill(width - len(sign))
    return _pad(sign + body, spec)


def _format_int(number: int, verb: str, spec: tuple) -> str:
    flags, _, precision = spec
    if verb == "c":
        return _pad(chr(number) if 0 <= number <= 0x10FFFF else "\ufffd", spec)
    digits = format(abs(number), {"v": "d", "O": "o"}.get(verb, verb))
    if precision is not None:
        digits = "" if precision == 0 and number == 0 else digits.zfill(precision)
    prefix = "0o" if verb == "O" else ""
    if "#" in flags and not (verb == "o" and digits.startswith("0")):
        prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(verb, prefix)
    if "0" in flags and "-" not in flags and precision is None and spec[1]:
        digits = digits.zfill(spec[1] - len(prefix) - (number < 0 or "+" in flags or " " in flags))
    return _signed(number < 0, prefix + digits, spec, zero_pad=False)


def _format_float_verb(value: float, verb: str, spec: tuple) -> str:
    precision = spec[2]
    negative = repr(value).startswith("-")
    if value != value:
        return _signed(False, "NaN", spec, zero_pad=False)
    if value in (_INF, -_INF):  # Go always shows the sign of an infinity
        return _signed(negative, "Inf", ("+" + spec[0], *spec[1:]), zero_pad=False)
    if verb in "vgG" and precision is None:
        body = _format_float(abs(value))
        body = body.upper() if verb == "G" else body
    else:
        python_verb = "g" if verb == "v" else verb
        body = format(abs(value), f".{6 if precision is None else precision}{python_verb}")
    return _signed(negative, body, spec)


def _format_arg(value: object, verb: str, spec: tuple) -> str:
    """Format one printf operand; lists and maps apply the verb to each element like Go."""
    if verb == "T":
        return _pad(_go_type(value), spec)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_format_arg(item, verb, spec) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (
            f"{_format_arg(key, verb, spec)}:{_format_arg(value[key], verb, spec)}"
            for key in _sorted_keys(value)
        )
        return "map[" + " ".join(pairs) + "]"
    if isinstance(value, bool):
        if verb in "vt":
            return _pad(_format_value(value), spec)
    elif isinstance(value, int):
        if verb in "vdboOxXc":
            return _format_int(value, verb, spec)
    elif isinstance(value, float):
        if verb in "veEfFgG":
            return _format_float_verb(value, verb, spec)
    elif isinstance(value, str):
        text = value if spec[2] is None else value[: spec[2]]
        if verb in "vs":
            return _pad(text, spec)
        if verb == "q":
            return _pad(_quote_string(text, spec[0]), spec)
        if verb in "xX":
            digits = text.encode("utf-8", "replace").hex()
            return _pad(digits.upper() if verb == "X" else digits, spec)
    elif value is None:
        return _pad("<nil>", spec) if verb == "v" else f"%!{verb}(<nil>)"
    elif verb in "vs":
        return _pad(str(value), spec)
    return f"%!{verb}({_go_type(value)}={_format_value(value)})"


def _read_digits(text: str, index: int) -> tuple[int | None, int]:
    end = index
    while end < len(text) and _is_digit(text[end]):
        end += 1
    return (int(text[index:end]) if end > index else None), end


def _sprintf(template: str, args: tuple | list) -> str:
    """Go's fmt.Sprintf: flags ``-+# 0``, width, ``.precision``, ``[n]`` argument indexes."""
    out: list[str] = []
    arg_index, reordered, index, size = 0, False, 0, len(template)
    while index < size:
        percent = template.find("%", index)
        if percent < 0:
            out.append(template[index:])
            break
        out.append(template[index:percent])
        index = percent + 1
        while index < size and template[index] in "-+# 0":
            index += 1
        flags = template[percent + 1 : index]
        width, index = _read_digits(template, index)
        precision = None
        if template.startswith(".", index):
            precision, index = _read_digits(template, index + 1)
            precision = precision or 0
        if template.startswith("[", index):
            close = template.find("]", index)
            position = template[index + 1 : close]
            if close > 0 and position.isascii() and position.isdigit():
                arg_index, reordered, index = int(position) - 1, True, close + 1
        if index >= size:
            out.append("%!(NOVERB)")
            break
        verb = template[index]
        index += 1
        if verb == "%":
            out.append("%")
        elif not 0 <= arg_index < len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_format_arg(args[arg_index], verb, (flags, width, precision)))
            arg_index += 1
    if not reordered and arg_index < len(args):
        extra = (
            "<nil>" if arg is None else f"{_go_type(arg)}={_format_value(arg)}"
            for arg in args[arg_index:]
        )
        out.append(f"%!(EXTRA {', '.join(extra)})")
    return "".join(out)


# ---------------------------------------------------------------------------
# Functions.  Python exceptions raised here become "error calling NAME: ...";
# _Failure is reported as is (Go's argument type errors).


def _want(value: object, python_type: type, go_name: str) -> object:
    if isinstance(value, python_type) and not (python_type is int and isinstance(value, bool)):
        return value
    if value is None:
        raise _Failure(f"invalid value; expected {go_name}")
    raise _Failure(f"wrong type for value; expected {go_name}; got {_go_type(value)}")


def _kind(value: object) -> str:
    if value is None or value is _MISSING:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _equal(left: object, right: object) -> bool:
    left_kind, right_kind = _kind(left), _kind(right)
    if "nil" in (left_kind, right_kind):
        return left_kind == right_kind
    if left_kind != right_kind:
        raise ValueError("incompatible types for comparison")
    for value in (left, right):
        if isinstance(value, (list, tuple, dict, set)):
            raise ValueError(f"non-comparable type {_go_type(value)}")
    return left == right


def _fn_eq(first: object, *others: object) -> bool:
    if not others:
        raise ValueError("missing argument for comparison")
    return any(_equal(first, other) for other in others)


def _fn_ne(left: object, right: object) -> bool:
    return not _equal(left, right)


def _ordering(compare: Callable[[object, object], bool]) -> Callable[[object, object], bool]:
    """Build lt/le/gt/ge: both operands must be numbers or both strings."""

    def function(left: object, right: object) -> bool:
        kinds = {_kind(left), _kind(right)}
        if not kinds <= {"number", "string"}:
            raise ValueError("invalid type for comparison")
        if len(kinds) > 1:
            raise ValueError("incompatible types for comparison")
        return compare(left, right)

    return function


def _fn_not(value: object) -> bool:
    return not _truth(value)


def _fn_len(value: object) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "replace"))  # Go counts bytes
    if isinstance(value, (bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    if value is None or value is _MISSING:
        raise ValueError("len of nil pointer")
    raise ValueError(f"len of type {_go_type(value)}")


def _check_index(index: object, size: int, upper: int) -> int:
    if index is None or index is _MISSING:
        raise ValueError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"cannot index slice/array with type {_go_type(index)}")
    if not 0 <= index < size + upper:
        raise ValueError(f"index out of range: {index}")
    return index


def _fn_index(item: object, *keys: object) -> object:
    for key in keys:
        if item is None or item is _MISSING:
            raise ValueError("index of untyped nil")
        if isinstance(item, dict):
            item = item.get(key, _MISSING)
        elif isinstance(item, (list, tuple, str)):
            sequence = item.encode("utf-8", "replace") if isinstance(item, str) else item
            item = sequence[_check_index(key, len(sequence), 0)]
        else:
            raise ValueError(f"can't index item of type {_go_type(item)}")
    return item


def _fn_slice(item: object, *indexes: object) -> object:
    if item is None or item is _MISSING:
        raise ValueError("slice of untyped nil")
    if isinstance(item, str):
        if len(indexes) > 2:
            raise ValueError("cannot 3-index slice a string")
    elif not isinstance(item, (list, tuple)):
        raise ValueError(f"can't slice item of type {_go_type(item)}")
    if len(indexes) > 3:
        raise ValueError(f"too many slice indexes: {len(indexes)}")
    bounds = [_check_index(index, len(item), 1) for index in indexes]
    for low, high in zip(bounds, bounds[1:], strict=False):
        if low > high:
            raise ValueError(f"invalid slice index: {low} > {high}")
    bounds += [0, len(item)][len(bounds) :]
    return item[bounds[0] : bounds[1]]


def _fn_print(*args: object) -> str:
    parts, previous_is_string = [], False
    for position, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if position and not is_string and not previous_is_string:
            parts.append(" ")
        parts.append(_format_value(arg))
        previous_is_string = is_string
    return "".join(parts)


def _fn_println(*args: object) -> str:
    return " ".join(map(_format_value, args)) + "\n"


def _fn_printf(template: object, *args: object) -> str:
    return _sprintf(_want(template, str, "string"), args)


def _jsonable(value: object) -> object:
    """Convert *value* so that json.dumps writes what Go's json.Marshal would."""
    if isinstance(value, float):
        if value != value or value in (_INF, -_INF):
            raise ValueError(f"json: unsupported value: {_format_float(value)}")
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, dict):
        return {
            (key if isinstance(key, str) else _format_value(key)): _jsonable(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, int)):
        return value
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return {key: _jsonable(item) for key, item in attributes.items() if not key.startswith("_")}
    return str(value)


def _fn_json(value: object) -> str:
    text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _fn_join(items: object, separator: object) -> str:
    if not isinstance(items, (list, tuple)):
        _want(items, list, "[]string")
    return _want(separator, str, "string").join(map(_format_value, items))


def _fn_split(text: object, separator: object) -> list[str]:
    text, separator = _want(text, str, "string"), _want(separator, str, "string")
    return list(text) if separator == "" else text.split(separator)


def _fn_upper(text: object) -> str:
    return _want(text, str, "string").upper()


def _fn_lower(text: object) -> str:
    return _want(text, str, "string").lower()


def _is_separator(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    return not (char.isalpha() or char.isdigit()) and char.isspace()


def _fn_title(text: object) -> str:
    """Go's strings.Title: upper-case the first letter of each word, keep the rest."""
    out, previous = [], " "
    for char in _want(text, str, "string"):
        titled = char.title() if _is_separator(previous) else char
        out.append(titled if len(titled) == 1 else char)
        previous = char
    return "".join(out)


def _fn_pad(text: object, left: object, right: object) -> str:
    text = _want(text, str, "string")
    left, right = _want(left, int, "int"), _want(right, int, "int")
    if not text:
        return text
    if left < 0 or right < 0:
        raise ValueError("strings: negative Repeat count")
    return " " * left + text + " " * right


def _fn_truncate(text: object, length: object) -> str:
    text, length = _want(text, str, "string"), _want(length, int, "int")
    if len(text) < length:
        return text
    if length < 0:
        raise ValueError(f"runtime error: slice bounds out of range [:{length}]")
    return text[:length]


# name -> (implementation, least args, most args (None: variadic), receives "no value" as is)
# A None implementation marks the short-circuiting and/or handled by the evaluator.
_FUNCTIONS: dict[str, tuple] = {
    "and": (None, 1, None, True),
    "or": (None, 1, None, True),
    "not": (_fn_not, 1, 1, True),
    "len": (_fn_len, 1, 1, True),
    "index": (_fn_index, 1, None, True),
    "slice": (_fn_slice, 1, None, True),
    "eq": (_fn_eq, 1, None, True),
    "ne": (_fn_ne, 2, 2, True),
    "lt": (_ordering(operator.lt), 2, 2, True),
    "le": (_ordering(operator.le), 2, 2, True),
    "gt": (_ordering(operator.gt), 2, 2, True),
    "ge": (_ordering(operator.ge), 2, 2, True),
    "print": (_fn_print, 0, None, False),
    "printf": (_fn_printf, 1, None, False),
    "println": (_fn_println, 0, None, False),
    "json": (_fn_json, 1, 1, False),
    "join": (_fn_join, 2, 2, False),
    "split": (_fn_split, 2, 2, False),
    "upper": (_fn_upper, 1, 1, False),
    "lower": (_fn_lower, 1, 1, False),
    "title": (_fn_title, 1, 1, False),
    "pad": (_fn_pad, 3, 3, False),
    "truncate": (_fn_truncate, 2, 2, False),
}


# ---------------------------------------------------------------------------
# Public API.


class Template:
    """A compiled template; :meth:`execute` renders it against plain Python data."""

    __slots__ = ("text", "_nodes")

    def __init__(self, text: str, nodes: list) -> None:
        self.text = text
        self._nodes = nodes

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def execute(self, data: object) -> str:
        """Render with *data* as both ``.`` and ``$``; raise :class:`TemplateError` on failure."""
        executor = _Executor(data)
        try:
            executor.walk(data, self._nodes)
        except _Failure as exc:
            raise self._error(executor.node, str(exc)) from None
        except Exception as exc:  # odd data (a failing __str__, deep nesting)
            raise self._error(executor.node, f"{type(exc).__name__}: {exc}") from None
        return "".join(executor.out)

    def _error(self, node: _Node | None, message: str) -> TemplateError:
        if node is None:
            return TemplateError(f'template: : executing "": {message}')
        line = self.text.count("\n", 0, node.pos) + 1
        column = node.pos - (self.text.rfind("\n", 0, node.pos) + 1)
        return TemplateError(f'template: :{line}:{column}: executing "" at <{node}>: {message}')


@lru_cache(maxsize=256)
def compile_template(text: str) -> Template:
    """Parse *text* (cached per text); raise :class:`TemplateError` if it is malformed."""
    if not isinstance(text, str):
        raise TypeError(f"template text must be str, not {type(text).__name__}")
    try:
        return Template(text, _Parser(text).parse())
    except RecursionError:
        raise TemplateError("template: :1: template is nested too deeply") from None


def render(text: str, data: object) -> str:
    """Compile *text* (cached) and execute it with *data*; raise :class:`TemplateError`."""
    return compile_template(text).execute(data)
