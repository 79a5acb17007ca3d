"""Strict JSON for records: what `json` lets through silently, or crashes on, becomes a value the
record format refuses where it stands (a JsonFlaw), so only the record that holds it is rejected,
with its field, and its neighbours go on.

- a key repeated in one object: `json` keeps the last value; here the key's value is a flaw;
- NaN, Infinity, -Infinity (not JSON): a flaw;
- an integer `int()` refuses (past 4,300 digits, a ValueError): a flaw; a shorter one outside the
  64-bit range decodes, and the record rules refuse it (usersync.records.check_integer);
- nesting deeper than MAX_NESTING_DEPTH: the value two levels down that holds it is a flaw (a
  record's `attributes.<name>`); deeper than `json` can decode (RecursionError past about 1,000
  levels), the whole value is, found by counting brackets.

Built on the standard library's C decoder and its hooks; written here only what it lacks: the
hooks themselves and a depth measure that does not recurse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from usersync.records import INT_MAX_DIGITS, JsonFlaw, integer_out_of_range, shown


class JsonSyntaxError(ValueError):
    """The text is not JSON: where one value ends cannot be known, so the whole text is refused."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.message, self.position = message, position


@dataclass(frozen=True, slots=True)
class Decoded:
    value: Any
    flawed: bool  # holds a JsonFlaw: the text, not the value, shows what was written


WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's
# A JSON string (possessive: no backtracking on a long unterminated one), or a bracket.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_INNERMOST = re.compile(r"\[\]|\{\}")
_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


def skip_space(text: str, position: int) -> int:
    return WHITESPACE.match(text, position).end()


def nests_deeper_than(text: str, depth: int, start: int = 0, end: int | None = None) -> bool:
    """Whether the JSON text (`text[start:end]`) nests arrays and objects more than `depth` levels,
    without recursing: strings are dropped, then each pass removes the innermost pairs of brackets."""
    end = len(text) if end is None else end
    if text.count("[", start, end) + text.count("{", start, end) <= depth:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text[start:end]))
    for _ in range(depth):
        brackets, removed = _INNERMOST.subn("", brackets)
        if not brackets or not removed:
            return False  # balanced within depth, or not JSON (the decoder says where)
    return bool(brackets)


def value_end(text: str, start: int) -> int | None:
    """Where the JSON value at `start` ends, found by counting brackets outside strings: for a
    value too deep to decode. None if it does not end."""
    depth = 0
    for token in _TOKEN.finditer(text, start):
        opening = text[token.start()]
        if opening in "[{":
            depth += 1
        elif opening in "]}":
            depth -= 1
        if depth <= 0:
            return token.end()
    return None


class StrictJson:
    """One reader per message or chunk: decodes values and comma-separated sequences of values."""

    def __init__(self, max_depth: int):
        self.max_depth = max_depth
        self._flaws = 0
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object, parse_constant=self._constant)
        # Only for text holding a long integer (the usual decoder raised ValueError on it).
        self._long_ints = json.JSONDecoder(object_pairs_hook=self._object, parse_constant=self._constant,
                                           parse_int=self._int)

    @property
    def too_deep(self) -> JsonFlaw:
        return JsonFlaw(f"nests deeper than {self.max_depth} levels of arrays and objects (MAX_NESTING_DEPTH)")

    # --- hooks ------------------------------------------------------------------------------

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    obj[key] = JsonFlaw(f"the key {shown(key)} appears more than once in one object "
                                        "(JSON keys must be unique)")
                    self._flaws += 1
                seen.add(key)
        return obj

    def _constant(self, name: str) -> JsonFlaw:
        self._flaws += 1
        return JsonFlaw(f"{name} is not a JSON number")

    def _int(self, text: str) -> int | JsonFlaw:
        digits = len(text) - text.startswith("-")
        if digits <= INT_MAX_DIGITS:
            return int(text)
        self._flaws += 1
        return JsonFlaw(integer_out_of_range(f"an integer of {digits:,} digits"))

    # --- reading ----------------------------------------------------------------------------

    def decode(self, text: str) -> Decoded:
        """The one JSON value `text` holds. Raises JsonSyntaxError."""
        self._flaws = 0
        try:
            try:
                value = self._decoder.decode(text)  # the C decoder end to end: the hot path of a file's lines
            except json.JSONDecodeError:
                raise
            except ValueError:  # an integer past int()'s 4,300 digits
                value = self._long_ints.decode(text)
        except json.JSONDecodeError as error:
            raise JsonSyntaxError(error.msg, error.pos) from None
        except RecursionError:
            if value_end(text, skip_space(text, 0)) is None:
                raise JsonSyntaxError("an array or object is not closed", 0) from None
            return Decoded(self.too_deep, True)
        if isinstance(value, (dict, list)) and nests_deeper_than(text, self.max_depth):
            self._cut_deep(value)
            return Decoded(value, True)
        return Decoded(value, self._flaws > 0)

    def value_at(self, text: str, start: int) -> tuple[int, Decoded]:
        """The JSON value starting at `start` and where it ends. Raises JsonSyntaxError."""
        self._flaws = 0
        try:
            try:
                value, end = self._decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                raise
            except ValueError:  # an integer past int()'s 4,300 digits
                value, end = self._long_ints.raw_decode(text, start)
        except json.JSONDecodeError as error:
            raise JsonSyntaxError(error.msg, error.pos) from None
        except RecursionError:
            end = value_end(text, start)
            if end is None:
                raise JsonSyntaxError("an array or object is not closed", start) from None
            return end, Decoded(self.too_deep, True)
        if text[start] in "[{" and nests_deeper_than(text, self.max_depth, start, end):
            self._cut_deep(value)
            return end, Decoded(value, True)
        return end, Decoded(value, self._flaws > 0)

    def _cut_deep(self, value: dict | list) -> None:
        """Replace what nests too deep by a flaw, two levels down (a record's `attributes.<name>`,
        `destinations.<i>`): so the field at fault is named."""
        stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
        while stack:
            node, depth, path = stack.pop()
            for key, child in (node.items() if isinstance(node, dict) else enumerate(node)):
                if isinstance(child, (dict, list)):
                    if depth + 1 > self.max_depth:
                        *outer, last = (path + (key,))[:2]
                        (value[outer[0]] if outer else value)[last] = self.too_deep
                        return
                    stack.append((child, depth + 1, path + (key,)))

    def elements(self, text: str, start: int = 0) -> Iterator[tuple[int, int, Decoded]]:
        """(start, end, value) of each element of a comma-separated sequence of JSON values that
        runs from `start` to a closing `]` or to the end of `text` (which is at `skip_space` of the
        last element's end). Raises JsonSyntaxError."""
        position = WHITESPACE.match(text, start).end()
        length = len(text)
        while position < length and text[position] != "]":
            end, decoded = self.value_at(text, position)
            yield position, end, decoded
            position = WHITESPACE.match(text, end).end()
            if position < length and text[position] == ",":
                position = WHITESPACE.match(text, position + 1).end()
                if position >= length or text[position] == "]":
                    raise JsonSyntaxError("a trailing comma", position)
            elif position < length and text[position] != "]":
                raise JsonSyntaxError("Expecting ',' delimiter", position)
