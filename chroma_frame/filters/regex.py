"""Regex checks for ``$regex`` / ``$not_regex``.

Chroma parses patterns with Rust's ``regex-syntax``; we run them with DuckDB's RE2, which
accepts nearly the same language. A pattern is valid when DuckDB can compile it and it has no
malformed ``{...}`` repetition (RE2 reads a stray ``{`` as a literal, Rust rejects it). An invalid
pattern gets Chroma's error text (``Regex syntax errror: regex parse error: ...``, sic), with
Rust's wording and caret position reconstructed for the common mistakes.
"""

from __future__ import annotations

import functools
import threading
from typing import Optional

from chroma_frame.errors import InvalidArgumentError

_lock = threading.Lock()
_con = None

Problem = tuple[str, int, int]  # (Rust's message, caret column, caret width)


def check_regex(pattern: str) -> None:
    """Raise Chroma's ``InvalidArgumentError`` when ``pattern`` is not a valid regex."""
    scan = _Scan(pattern)
    problem: Optional[Problem] = scan.brace_error
    if problem is None:
        re2_error = _re2_error(pattern)
        if re2_error is None:
            return
        problem = _translate(pattern, scan, re2_error) or (re2_error, 0, 1)
    raise InvalidArgumentError(rust_message(pattern, *problem))


_CACHED_PATTERN_CHARS = 4096  # longer patterns are checked every time: the cache must stay small


def _re2_error(pattern: str) -> Optional[str]:
    """RE2's complaint about ``pattern`` (as DuckDB words it), or None when it compiles."""
    if len(pattern) <= _CACHED_PATTERN_CHARS:
        return _re2_error_cached(pattern)
    return _compile_error(pattern)


@functools.lru_cache(maxsize=1024)
def _re2_error_cached(pattern: str) -> Optional[str]:
    return _compile_error(pattern)


def _compile_error(pattern: str) -> Optional[str]:
    global _con
    import duckdb

    with _lock:
        if _con is None:
            _con = duckdb.connect()
        try:
            _con.execute("SELECT regexp_matches('', $1)", [pattern]).fetchall()
        except duckdb.Error as exc:
            text = str(exc)
            return text.split("Error: ", 1)[1] if "Error: " in text else text
    return None


def rust_message(pattern: str, message: str, column: int, width: int) -> str:
    """Chroma's text for an error at ``pattern[column:column + width]`` (regex-syntax's layout)."""
    carets = "^" * max(width, 1)
    if "\n" not in pattern:
        return f"Regex syntax errror: regex parse error:\n    {pattern}\n    {' ' * column}{carets}\nerror: {message}"
    lines = pattern.split("\n")
    if lines[-1] == "":
        lines.pop()
    number_width = len(str(len(lines)))
    rule = "~" * 79
    out = ["Regex syntax errror: regex parse error:", rule]
    offset = 0
    for number, line in enumerate(lines, 1):
        out.append(f"{number:>{number_width}}: {line}")
        if offset <= column <= offset + len(line):
            out.append(" " * (number_width + 2 + column - offset) + carets)
            column = -1  # only one caret line
        offset += len(line) + 1
    out += [rule, f"error: {message}"]
    return "\n".join(out)


def _translate(pattern: str, scan: _Scan, re2_error: str) -> Optional[Problem]:
    """Rust's message and span for the RE2 errors we know."""
    kind, _, fragment = re2_error.partition(": ")
    if re2_error.startswith("trailing \\"):
        return "incomplete escape sequence, reached end of pattern prematurely", len(pattern) - 1, 1
    if kind == "missing )" and scan.open_group is not None:
        return "unclosed group", scan.open_group, 1
    if kind == "unexpected )" and scan.unopened is not None:
        return "unopened group", scan.unopened, 1
    if kind == "missing ]" and scan.open_class is not None:
        return ("unclosed character class", *scan.open_class)
    if kind == "no argument for repetition operator" and scan.bare_repetition is not None:
        return "repetition operator missing expression", scan.bare_repetition, 1
    at = pattern.find(fragment) if fragment else -1
    if at < 0:
        return None
    if kind == "invalid repetition size" and _reversed_range(fragment):
        return "invalid repetition count range, the start must be <= the end", at, len(fragment)
    if kind == "invalid perl operator":
        for opener in ("(?<=", "(?<!", "(?=", "(?!"):
            if pattern.startswith(opener, at):
                return "look-around, including look-ahead and look-behind, is not supported", at, len(opener)
        if len(fragment) == 3 and fragment[2] not in "imsUux-:<P)":
            return "unrecognized flag", at + 2, 1
    if kind == "invalid escape sequence" and len(fragment) == 2:
        if fragment[1].isdigit():
            return "backreferences are not supported", at, 2
        return "unrecognized escape sequence", at, 2
    if kind == "invalid character class range":
        if fragment[:2] in ("\\p", "\\P"):
            return "Unicode property not found", at, len(fragment)
        if not fragment.startswith("[:"):
            return "invalid character class range, the start must be <= the end", at, len(fragment)
    return None


def _reversed_range(fragment: str) -> bool:
    """True for ``{m,n}`` with m > n."""
    low, _, high = fragment.strip("{}").partition(",")
    return low.isdigit() and high.isdigit() and int(low) > int(high)


class _Scan:
    """One pass over a pattern: unbalanced groups and classes, a repetition with nothing to
    repeat, and the first malformed ``{m,n}`` (the way Rust's parser reports it)."""

    def __init__(self, pattern: str) -> None:
        self.open_group: Optional[int] = None
        self.unopened: Optional[int] = None
        self.open_class: Optional[tuple[int, int]] = None  # (column, width of "[", "[^", "[]"...)
        self.bare_repetition: Optional[int] = None
        self.brace_error: Optional[Problem] = None
        groups: list[int] = []
        i, n = 0, len(pattern)
        at_start = True  # at the start of a sequence: pattern start, after "(" or "|"
        while i < n:
            ch = pattern[i]
            if ch == "\\":
                i, at_start = i + 2, False
                continue
            if ch == "[":
                end, opener = _class_end(pattern, i)
                if end is None:
                    self.open_class = (i, opener)
                    break
                i, at_start = end + 1, False
                continue
            if ch == "{":
                if at_start:
                    self._note_bare(i)
                    self._note_brace(("repetition operator missing expression", i, 1))
                    i += 1
                    continue
                end, problem = _counted_repetition(pattern, i)
                if problem is not None:
                    self._note_brace(problem)
                    break
                i = end + 1
                continue
            if ch == "(":
                close = pattern.find(")", i) if pattern.startswith("(?", i) else -1
                if close > 0 and all(c.isalpha() or c == "-" for c in pattern[i + 2 : close]):
                    i = close + 1  # a flag group such as "(?i)" opens nothing
                    continue
                groups.append(i)
                at_start = True
            elif ch == ")":
                if groups:
                    groups.pop()
                elif self.unopened is None:
                    self.unopened = i
                at_start = False
            elif ch == "|":
                at_start = True
            elif ch in "*+?" and at_start:
                self._note_bare(i)
            else:
                at_start = False
            i += 1
        if groups:
            self.open_group = groups[-1]

    def _note_bare(self, column: int) -> None:
        if self.bare_repetition is None:
            self.bare_repetition = column

    def _note_brace(self, problem: Problem) -> None:
        if self.brace_error is None:
            self.brace_error = problem


def _counted_repetition(pattern: str, start: int) -> tuple[int, Optional[Problem]]:
    """Parse ``{m}``, ``{m,}`` or ``{m,n}`` at ``start``: (index of ``}``, None) or the error."""
    n = len(pattern)

    def unclosed(end: int) -> tuple[int, Problem]:
        return end, ("unclosed counted repetition", start, end - start)

    def decimal(i: int) -> int:
        while i < n and pattern[i] == " ":
            i += 1
        while i < n and pattern[i].isdigit():
            i += 1
        while i < n and pattern[i] == " ":
            i += 1
        return i

    i = decimal(start + 1)
    if i == n:
        return unclosed(n)
    if not pattern[start + 1 : i].strip():
        return i, ("repetition quantifier expects a valid decimal", i, 1)
    if pattern[i] == ",":
        j = decimal(i + 1)
        if j == n:
            return unclosed(n)
        if pattern[j] != "}" and not pattern[i + 1 : j].strip():
            return j, ("repetition quantifier expects a valid decimal", j, 1)
        i = j
    if pattern[i] != "}":
        return unclosed(i)
    return i, None


def _class_end(pattern: str, start: int) -> tuple[Optional[int], int]:
    """(index of the ``]`` closing the class opened at ``start`` or None, width of its opener)."""
    i, n = start + 1, len(pattern)
    if i < n and pattern[i] == "^":
        i += 1
    if i < n and pattern[i] == "]":
        i += 1
    opener = i - start
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end >= 0:
                i = end + 2
                continue
        if ch == "]":
            return i, opener
        i += 1
    return None, opener
