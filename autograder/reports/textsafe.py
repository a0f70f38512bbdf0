"""Making student-derived text safe where it lands: files, terminals and spreadsheet cells. No torch here.

Student text (exception messages, captured output, notes, folder names) can hold anything: unpaired
surrogates that no UTF-8 writer can encode, terminal escape sequences (clear the screen, move the cursor
to overwrite a score, OSC 52 writes to the reader's clipboard), and leading characters a spreadsheet reads
as a formula. Every writer and printer of such text passes it through one of the functions here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 controls but tab, newline and carriage return; DEL; C1 controls (U+0080-U+009F: U+009B is an 8-bit CSI to
# some terminals).
_FILE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# ECMA-48 sequences, as terminals read them: strings (OSC, DCS, SOS, PM, APC) run to BEL or ST, or to the end
# of the text when unterminated; CSI takes parameter and intermediate bytes then one final byte; any other
# escape takes intermediate bytes and one final byte.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL)
# Controls left after the sequences are gone, tab and newline kept; bidirectional overrides and isolates, which
# reorder what a reader sees ("Trojan Source").
_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_file(text: str) -> str:
    """`text` that any UTF-8 writer can write and any reader can show: unpaired surrogates and control
    characters (tab, newline and carriage return kept) become visible escapes such as `\\udc80` or `\\x1b`.

    The escape is text, not a JSON escape, so reading a results file back never yields a surrogate again.
    """
    if not isinstance(text, str):
        text = str(text)
    return _FILE_CONTROL.sub(_visible, _SURROGATE.sub(_visible, text))


def for_terminal(text: str) -> str:
    """`text` that prints as itself: escape sequences removed, carriage returns made newlines (so nothing is
    overwritten in place), other controls and bidirectional overrides removed, unpaired surrogates escaped."""
    if not isinstance(text, str):
        text = str(text)
    text = _ESCAPE_SEQUENCE.sub("", _SURROGATE.sub(_visible, text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _TERMINAL_CONTROL.sub("", text)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as written: text that would start a formula (= + - @, tab or carriage
    return) gets a leading single quote, as OWASP advises. Numbers stay numbers, and so does text that is a
    plain number ("-3", a numeric student id), which no spreadsheet runs."""
    if isinstance(value, str):
        value = for_file(value)
        if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
            return "'" + value
    return value


def deep(value: object) -> object:
    """`value` (JSON-like: dicts, lists, strings, numbers) with every string, keys included, passed through
    `for_file`."""
    if isinstance(value, str):
        return for_file(value)
    if isinstance(value, dict):
        return {for_file(k) if isinstance(k, str) else k: deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep(v) for v in value]
    return value


class _TerminalStream:
    """A text stream that passes everything written through `for_terminal` on its way to `stream`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        # An escape split across two writes loses its ESC in the first (a lone ESC is removed), so the rest
        # prints as plain text.
        self._stream.write(for_terminal(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextmanager
def terminal_output() -> Iterator[None]:
    """Within it, whatever is printed to standard output (student messages, captured output, names) reaches
    the terminal as plain text: no sequence can clear the screen, overwrite a score or write the clipboard."""
    previous = sys.stdout
    sys.stdout = _TerminalStream(previous)
    try:
        yield
    finally:
        sys.stdout = previous
