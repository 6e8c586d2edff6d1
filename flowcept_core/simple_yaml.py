"""Read simple settings files without PyYAML: the same result as ``yaml.safe_load``, or None for "not handled".

Importing PyYAML costs tens of milliseconds (its scanner and resolver compile large regular expressions), more
than the rest of a first ``Flowcept().start()``. Settings files are usually plain: nested block mappings of
scalars, one-line flow collections, block lists and comments. :func:`load` reads that subset and returns
exactly what ``yaml.safe_load`` (YAML 1.1 resolution) returns for it; for anything outside it returns None and
the caller hands the file to PyYAML, so errors, their line numbers and every other YAML feature stay PyYAML's.

The subset (anything else, or anything in doubt, is None):

* the text holds only printable characters and newlines (no tab, carriage return, BOM or Unicode line break);
  an optional ``---`` first line; ``#`` comments (whole lines, or after a space); blank lines;
* the top level is a block mapping at column 0; block mappings nest by indentation (spaces); keys are plain
  identifiers ``[A-Za-z_][A-Za-z0-9_.-]*`` that are not a null or bool word, each once per mapping;
  ``key: value`` on one line, or ``key:`` followed by a deeper block, a block list at the key's column, or
  nothing (null);
* block lists: ``- value`` items (a one-line value; no nested blocks);
* one-line values: plain scalars, quoted strings, flow mappings ``{k: v, ...}`` and flow lists ``[a, ...]``
  (nested at most once, no trailing comma);
* plain scalars: null (``~ null Null NULL``), bool (``yes no true false on off`` in PyYAML's three spellings),
  decimal ints without leading zeros or underscores, floats ``1.5``/``1.``/``1.5e+3`` (exponent with a sign,
  as YAML 1.1 wants), dotted numbers with two or more dots (``0.0.0.0``, strings), and strings that start with a
  letter, ``_`` or ``/`` and hold only letters, digits and ``_ . / @ : + -`` (``:`` never last nor before a
  space; words separated by spaces outside flow collections); no dates, octal, hex, sexagesimal or ``.inf``;
* quoted strings on one line: single-quoted without ``'`` inside, double-quoted without ``\\`` inside.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["load"]

_BAD_ASCII = re.compile("[\x00-\x09\x0b-\x1f\x7f]")  # controls but newline: tab and carriage return too
_NULL = frozenset(("~", "null", "Null", "NULL"))
_BOOL = {
    w: v
    for v, words in ((True, "yes Yes YES true True TRUE on On ON"), (False, "no No NO false False FALSE off Off OFF"))
    for w in words.split()
}
_SPECIAL_KEYS = _NULL | frozenset(_BOOL)
_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*):(?: +(.*))?")
_FLOW_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*): +")
_FLOW_TOKEN = re.compile(r"[^ ,\[\]{}]*")
_TAIL = re.compile(r"(?: +#.*)?")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_DOTTED = re.compile(r"[0-9]+(?:\.[0-9]+){2,}")
_PLAIN_WORD = r"[A-Za-z0-9_./@:+-]+"
_PLAIN_BLOCK = re.compile(rf"[A-Za-z_/][A-Za-z0-9_./@:+-]*(?: +{_PLAIN_WORD})*")
_PLAIN_FLOW = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@:+-]*")
_MAX_NUMBER = 64  # longer numerals go to PyYAML (Python caps int() digit counts)


class _NotHandled(Exception):
    """The text is outside the subset: PyYAML reads it."""


def load(text: str) -> Any | None:
    """Return ``yaml.safe_load(text)`` for a text in the subset described above, else None ("not handled").

    A handled text always holds a mapping at the top level, so None never stands for an empty document.
    """
    if not isinstance(text, str) or _BAD_ASCII.search(text) or not (text.isascii() or _printable(text)):
        return None
    lines: list[tuple[int, str]] = []
    for raw in text.split("\n"):
        content = raw.lstrip(" ")
        if not content or content[0] == "#":
            continue
        lines.append((len(raw) - len(content), content.rstrip(" ")))
    if lines and lines[0] == (0, "---"):
        del lines[0]
    if not lines or lines[0][0] != 0:
        return None
    try:
        value, end = _mapping(lines, 0, 0)
    except _NotHandled:
        return None
    return value if end == len(lines) else None


def _printable(text: str) -> bool:
    """Whether the non-ASCII characters are ones PyYAML's reader accepts and does not take for a line break or
    byte order mark (a character class over these ranges costs milliseconds to compile)."""
    for c in text:
        if c > "\x7e" and not (
            ("\xa0" <= c <= "\ud7ff" and c not in "\u2028\u2029")
            or ("\ue000" <= c <= "\ufffd" and c != "\ufeff")
            or c >= "\U00010000"
        ):
            return False
    return True


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    content = lines[i][1]
    if content == "-" or content.startswith("- "):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[dict, int]:
    out: dict[str, Any] = {}
    while i < len(lines):
        col, content = lines[i]
        if col < indent:
            break
        m = _KEY_LINE.fullmatch(content)
        if col > indent or m is None:
            raise _NotHandled
        key, rest = m.group(1), m.group(2)
        if key in _SPECIAL_KEYS or key in out:
            raise _NotHandled
        i += 1
        if rest is not None and rest[0] != "#":
            out[key] = _inline(rest)
            continue
        value = None
        if i < len(lines):
            col, content = lines[i]
            if col > indent:
                value, i = _block(lines, i, col)
            elif col == indent and content.startswith("- "):
                value, i = _sequence(lines, i, indent)
        out[key] = value
    return out, i


def _sequence(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[list, int]:
    out: list[Any] = []
    while i < len(lines):
        col, content = lines[i]
        if col < indent or (col == indent and not content.startswith("- ")):
            break
        if col > indent:
            raise _NotHandled
        item = content[2:].lstrip(" ")
        if not item or item[0] == "#":
            raise _NotHandled
        out.append(_inline(item))
        i += 1
    return out, i


def _inline(s: str) -> Any:
    """A one-line value with an optional trailing comment (``s`` is not empty and not right-padded)."""
    first = s[0]
    if first in "'\"":
        value, end = _quoted(s, 0)
    elif first in "[{":
        value, end = _flow(s, 0, 0)
    else:
        cut = s.find(" #")
        return _plain((s if cut < 0 else s[:cut]).rstrip(" "), _PLAIN_BLOCK)
    if _TAIL.fullmatch(s, end) is None:
        raise _NotHandled
    return value


def _quoted(s: str, j: int) -> tuple[str, int]:
    quote = s[j]
    end = s.find(quote, j + 1)
    if end < 0:
        raise _NotHandled
    body = s[j + 1 : end]
    if (quote == "'" and s.startswith("'", end + 1)) or (quote == '"' and "\\" in body):
        raise _NotHandled
    return body, end + 1


def _skip_spaces(s: str, j: int) -> int:
    while s.startswith(" ", j):
        j += 1
    return j


def _flow(s: str, j: int, depth: int) -> tuple[Any, int]:
    is_map = s[j] == "{"
    close = "}" if is_map else "]"
    out: Any = {} if is_map else []
    j = _skip_spaces(s, j + 1)
    if s.startswith(close, j):
        return out, j + 1
    while True:
        if is_map:
            m = _FLOW_KEY.match(s, j)
            if m is None or m.group(1) in _SPECIAL_KEYS or m.group(1) in out:
                raise _NotHandled
            j = m.end()
        first = s[j : j + 1]
        if first in ("'", '"'):
            value, j = _quoted(s, j)
        elif first in ("[", "{"):
            if depth >= 1:
                raise _NotHandled
            value, j = _flow(s, j, depth + 1)
        else:
            m_tok = _FLOW_TOKEN.match(s, j)
            assert m_tok is not None  # the pattern matches the empty string
            value, j = _plain(m_tok.group(), _PLAIN_FLOW), m_tok.end()
        if is_map:
            out[m.group(1)] = value
        else:
            out.append(value)
        j = _skip_spaces(s, j)
        if s.startswith(close, j):
            return out, j + 1
        if not s.startswith(",", j):
            raise _NotHandled
        j = _skip_spaces(s, j + 1)
        if s.startswith(close, j):  # a trailing comma
            raise _NotHandled


def _plain(tok: str, pattern: re.Pattern[str]) -> Any:
    """Resolve a plain scalar as PyYAML's YAML 1.1 resolver does, within the subset."""
    if tok in _NULL:
        return None
    if tok in _BOOL:
        return _BOOL[tok]
    if not tok:
        raise _NotHandled
    if tok[0] in "0123456789+-.":
        if len(tok) <= _MAX_NUMBER:
            if _INT.fullmatch(tok):
                return int(tok)
            if _FLOAT.fullmatch(tok):
                return float(tok)
            if _DOTTED.fullmatch(tok):
                return tok
        raise _NotHandled
    if pattern.fullmatch(tok) is None or tok[-1] == ":" or ": " in tok:
        raise _NotHandled
    return tok
