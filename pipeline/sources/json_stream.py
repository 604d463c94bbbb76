"""Read a large JSON object member by member, streaming one array member item by item.

An Overpass answer for a country is one JSON object whose `elements` array holds every object
(223 MB of text for a Germany-size extract); `json.load` holds the whole decoded tree at once (about
1.1 GiB) next to the records made from it. `stream_object` decodes the same text with the standard
library's decoder (`JSONDecoder.raw_decode`: identical numbers, strings, NaN handling and error
messages), one array item at a time from a buffer of about a MiB, so only the current element is ever
decoded. Errors are `json.JSONDecodeError` with the line number counted over the whole file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

_WS = re.compile(r"[ \t\n\r]*")
CHUNK_CHARS = 1 << 20
_NUMBER_CHARS = frozenset("0123456789.eE+-")


class NotAnObjectError(ValueError):
    """The document is valid JSON but not an object (a list, a number...)."""


class _Buffer:
    """Text read so far that is not yet consumed, with the line count of what was dropped before it."""

    def __init__(self, handle: TextIO, chunk_chars: int) -> None:
        self.handle = handle
        self.chunk_chars = chunk_chars
        self.text = ""
        self.pos = 0
        self.lines_before = 0  # newlines in the text already dropped
        self.eof = False
        self.decoder = json.JSONDecoder()

    def fill(self) -> bool:
        """Drop the consumed text, append the next chunk; False at the end of the file."""
        if self.eof:
            return False
        chunk = self.handle.read(max(self.chunk_chars, len(self.text) - self.pos))  # doubles for big items
        if not chunk:
            self.eof = True
            return False
        self.lines_before += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def error(self, msg: str, pos: int | None = None) -> json.JSONDecodeError:
        exc = json.JSONDecodeError(msg, self.text, self.pos if pos is None else pos)
        exc.lineno += self.lines_before  # the line in the whole file, as json.load would report it
        return exc

    def peek(self) -> str:
        """The next non-blank character ("" at the end of the file), not consumed."""
        while True:
            match = _WS.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.fill():
                return ""

    def expect(self, char: str, msg: str) -> None:
        if self.peek() != char:
            raise self.error(msg)
        self.pos += 1

    def value(self) -> Any:
        """Decode the next JSON value; reads on while it runs past the buffered text."""
        while True:
            if self.peek() == "":
                raise self.error("Expecting value")
            try:
                obj, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.fill():
                    continue  # the value went on past the buffer: decode it again with more text
                exc.lineno += self.lines_before
                raise exc from None
            if self._maybe_cut(obj, end) and self.fill():
                continue  # a number cut at the buffer's end ("12" of "123", "1.5" of "1.5e3"): again
            self.pos = end
            return obj

    def _maybe_cut(self, obj: Any, end: int) -> bool:
        """Could the value decoded up to `end` go on in text not read yet? Only a bare number can:
        any other value is closed by its own quote, bracket or keyword."""
        if self.eof:
            return False
        if end == len(self.text):
            return True
        return type(obj) in (int, float) and self.text[end] in _NUMBER_CHARS


def stream_object(
    handle: TextIO, array_key: str, members: dict[str, Any], chunk_chars: int = CHUNK_CHARS
) -> Iterator[Any]:
    """Yield the items of the top-level object's array member `array_key`; every other member's value
    is stored in `members` (complete once the iterator is exhausted). A non-list `array_key` value is
    stored in `members` too. Raises json.JSONDecodeError for invalid JSON (also after the last item:
    the whole document is checked), NotAnObjectError when the document is not a JSON object, and
    ValueError when `array_key` occurs twice (json.load would silently keep the last one)."""
    buf = _Buffer(handle, chunk_chars)
    buf.fill()
    if buf.text.startswith("\ufeff"):
        raise buf.error("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
    if buf.peek() != "{":
        buf.value()  # invalid JSON is reported as such first
        _end(buf)
        raise NotAnObjectError("the JSON document is not an object")
    buf.pos += 1
    streamed = False
    if buf.peek() == "}":
        buf.pos += 1
    else:
        while True:
            if buf.peek() != '"':
                raise buf.error("Expecting property name enclosed in double quotes")
            key = buf.value()
            buf.expect(":", "Expecting ':' delimiter")
            if key == array_key and buf.peek() == "[":
                if streamed:
                    raise ValueError(f"the object has two {array_key!r} members")
                streamed = True
                members.pop(key, None)
                yield from _items(buf)
            else:
                members[key] = buf.value()
            char = buf.peek()
            buf.pos += 1
            if char == "}":
                break
            if char != ",":
                buf.pos -= 1
                raise buf.error("Expecting ',' delimiter")
    _end(buf)
    if streamed:
        members.setdefault(array_key, [])  # present and a list (its items were yielded)


def _items(buf: _Buffer) -> Iterator[Any]:
    buf.pos += 1  # the "["
    if buf.peek() == "]":
        buf.pos += 1
        return
    while True:
        yield buf.value()
        char = buf.peek()
        buf.pos += 1
        if char == "]":
            return
        if char != ",":
            buf.pos -= 1
            raise buf.error("Expecting ',' delimiter")


def _end(buf: _Buffer) -> None:
    if buf.peek() != "":
        raise buf.error("Extra data")
