"""What a hostile (or broken) producer sends, as Hypothesis strategies and a few fixed specimens:
raw bytes, JSON text with adversarial values, CSV cells, gzip bombs. Shared by the unit and the
integration hostile-input tests.

Each generated record is labelled: `good` records must be delivered, a `bad` one must be rejected
alone, naming its field. JSON is rendered here as text (not json.dumps of a value) so it can hold
what no Python value can: a key written twice, NaN, an integer of thousands of digits, a lone
surrogate escape.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass

from hypothesis import strategies as st

# --- adversarial JSON values, as text ------------------------------------------------------------

HOSTILE_VALUES: dict[str, str] = {          # name -> JSON text of an attribute value
    "long_integer": "9" * 5000,             # int() refuses past 4,300 digits (ValueError, not JSONDecodeError)
    "integer_past_64_bits": str(2 ** 70),
    "nan": "NaN",
    "infinity": "-Infinity",
    "float_overflow": "1e999",
    "lone_surrogate": '"a\\ud800b"',
    "lone_low_surrogate": '"\\udfff"',
    "nul": '"a\\u0000b"',
    "escape_sequence": '"\\u001b[31mred"',
    "non_character": '"\\uffff"',
    "epoch_milliseconds": '{"$date": 1472656161000}',
    "year_10000": '{"$date": "9999-12-31T23:59:59-01:00"}',
    "url_with_space": '{"$url": "https://exa mple.com/x"}',
    "url_one_slash": '{"$url": "https:/example.com"}',
    "url_no_scheme": '{"$url": "www.example.com/x.png"}',
    "deep": "[" * 60 + "]" * 60,
    "very_deep": "[" * 50_000 + "]" * 50_000,  # past the interpreter's recursion limit
    "duplicate_key_inside": '{"$incr": 1, "$incr": 2}',
}

TEXT = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")  # what a value may hold
GOOD_VALUES = st.one_of(
    st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(TEXT, max_size=30),
    st.lists(st.text(TEXT, max_size=8), max_size=3),
    st.integers(min_value=-62135596800, max_value=253402300799).map(lambda e: {"$date": e}),
    st.sampled_from(["https://cdn.example.com/a.png", "myapp://path/x"]).map(lambda u: {"$url": u}),
)
NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


# Too deep for the decoder itself: the record as a whole is rejected, no field can be named in it.
WHOLE_RECORD_FLAWS = frozenset({"very_deep"})


@dataclass(frozen=True)
class Specimen:
    """One record as text, and what must become of it: delivered, or rejected naming `field`."""
    text: str
    user_id: str
    good: bool
    field: str | None = None


def _record_text(user_id: str, attributes: list[tuple[str, str]]) -> str:
    body = ", ".join(f"{json.dumps(name)}: {value}" for name, value in attributes)
    return f'{{"user_id": {json.dumps(user_id)}, "attributes": {{{body}}}}}'


@st.composite
def specimens(draw, user_id: str) -> Specimen:
    """A record that is good, or bad in one attribute (a hostile value, or a key written twice)."""
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    attributes = [(name, json.dumps(draw(GOOD_VALUES))) for name in names]
    flaw = draw(st.sampled_from([None, None, "duplicate_key", *HOSTILE_VALUES]))
    if flaw is None:
        return Specimen(_record_text(user_id, attributes), user_id, True)
    name = draw(st.sampled_from(names))
    if flaw == "duplicate_key":
        attributes.append((name, "1"))
    else:
        attributes = [(n, HOSTILE_VALUES[flaw] if n == name else v) for n, v in attributes]
    field = None if flaw in WHOLE_RECORD_FLAWS else f"attributes.{name}"
    return Specimen(_record_text(user_id, attributes), user_id, False, field)


def message_of(records: list[Specimen]) -> str:
    return "[" + ", ".join(r.text for r in records) + "]"


# --- raw bytes and text a body or a line might be ------------------------------------------------

RAW_TEXT = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
    st.sampled_from(["", "[", "{", "[1,]", '{"records": 5}', '{"records": [1, 2', "[" * 5000, "\ufeff{}", "nul\x00l",
                     '{"user_id": "u"} trailing', '[{"user_id": "u"}] ]', '"\\ud800"', "1" * 5000, "-"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=10).map(json.dumps),
)

# --- CSV cells -----------------------------------------------------------------------------------

HOSTILE_CELLS: dict[str, tuple[str, str]] = {  # name -> (column, cell)
    "nul_in_string": ("nickname", "a\x00b"),
    "escape_in_string": ("nickname", "\x1b[31mred"),
    "delete_char": ("nickname", "x\x7f"),
    "long_integer_cell": ("age:int", "9" * 5000),
    "long_epoch_cell": ("signup:date", "1" * 5000),
    "integer_past_64_bits_cell": ("age:int", str(2 ** 70)),
    "epoch_milliseconds_cell": ("signup:date", "1472656161000"),
    "url_with_space_cell": ("avatar:url", "https://exa mple.com/x"),
    "url_no_scheme_cell": ("avatar:url", "www.example.com/x.png"),
    "float_overflow_cell": ("level:float", "1e999"),
    "non_character_cell": ("nickname", "\uffff"),
}
CSV_HEADER = ["user_id", "nickname", "age:int", "signup:date", "avatar:url", "level:float"]
GOOD_CELLS = {
    "nickname": st.text(TEXT, max_size=20).filter(lambda cell: cell != "{null}"),
    "age:int": st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1).map(str),
    "signup:date": st.integers(min_value=0, max_value=253402300799).map(str),
    "avatar:url": st.just("https://cdn.example.com/a.png"),
    "level:float": st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
}


def csv_cell(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def csv_rows(draw, user_id: str) -> Specimen:
    """One CSV row (text, no line end): good, or with one hostile cell."""
    cells = {column: draw(GOOD_CELLS[column]) for column in CSV_HEADER[1:]}
    flaw = draw(st.sampled_from([None, None, *HOSTILE_CELLS]))
    if flaw is None:
        return Specimen(",".join(csv_cell(c) for c in [user_id, *cells.values()]), user_id, True)
    column, cells[HOSTILE_CELLS[flaw][0]] = HOSTILE_CELLS[flaw]
    text = ",".join(csv_cell(c) for c in [user_id, *cells.values()])
    return Specimen(text, user_id, False, "attributes." + column.split(":")[0])


# --- gzip bombs, built by the test -------------------------------------------------------------

def gzip_of_repeated(unit: bytes, total: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """gzip of head + unit repeated to `total` bytes + tail, compressed as it is made (never held whole)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        stream.write(head)
        block = unit * max(1, (1024 * 1024) // len(unit))
        written = 0
        while written < total:
            piece = block[: total - written]
            stream.write(piece)
            written += len(piece)
        stream.write(tail)
    return out.getvalue()


def inflated_size(data: bytes) -> int:
    decompressor, size = zlib.decompressobj(16 + zlib.MAX_WBITS), 0
    for start in range(0, len(data), 65536):
        size += len(decompressor.decompress(data[start:start + 65536]))
    return size
