"""Hostile files: the planning pass and the chunk reader never crash on a file's content, hold at most
a chunk and a record whatever a line's length, and reject a bad record alone, with its line and
field (usersync.ingest.planning, usersync.parsing.files)."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc

import pytest
from hypothesis import given, strategies as st

from hostile_input import CSV_HEADER, HOSTILE_CELLS, HOSTILE_VALUES, WHOLE_RECORD_FLAWS, csv_cell, csv_rows
from usersync.ingest.planning import plan_file
from usersync.limits import InputLimits
from usersync.parsing.files import FileFormat, FileRejected, chunk_records
from usersync.records import Source, SourcedRecord, Unparsable

WHERE = "s3://bucket/incoming/file"
GOOD = '{"user_id": "good-1", "attributes": {"n": 1}}'
GOOD_2 = '{"user_id": "good-2", "attributes": {"n": 2}}'


def source_at(line: int, ordinal: int) -> Source:
    return Source("s3", bucket="bucket", key="k", line=line, ordinal=ordinal)


def read_file(data: bytes, fmt: FileFormat, limits: InputLimits = InputLimits()) -> list:
    """Plan the file as the file function does, then read every chunk as the chunk function does."""
    parts: dict[str, bytes] = {}

    def write_part(index: int, chunk: bytes) -> str:
        parts[f"part-{index}"] = chunk
        return f"part-{index}"

    stream = io.BytesIO(gzip.decompress(data) if fmt.gzip else data)
    plan = plan_file(stream, fmt, WHERE, write_part=write_part if fmt.gzip else None, limits=limits)
    items = []
    for chunk in plan.chunks:
        raw = parts[chunk.part][chunk.start:chunk.end] if chunk.part else data[chunk.start:chunk.end]
        kind = getattr(chunk, "kind", None) or plan.kind
        items += chunk_records(raw.decode(), kind, first_line=chunk.first_line, source_at=source_at,
                               header=plan.header, limits=limits)
    return items


def outcomes(items) -> list[tuple[str, int, str | None]]:
    return [(type(i).__name__, i.source.line, getattr(i, "field", None)) for i in items]


# --- integers of thousands of digits: int() raises ValueError past 4,300 -----------------------

LONG = "9" * 5000


@pytest.mark.parametrize("data, fmt", [
    (f'{GOOD}\n{{"user_id": "u", "attributes": {{"n": {LONG}}}}}\n{GOOD_2}\n', FileFormat("jsonl")),
    (f'[{GOOD},\n{{"user_id": "u", "attributes": {{"n": {LONG}}}}},\n{GOOD_2}]', FileFormat("json")),
    (f"user_id,n:int\ngood-1,1\nu,{LONG}\ngood-2,2\n", FileFormat("csv")),
    (f"user_id,n:date\ngood-1,1\nu,{LONG}\ngood-2,2\n", FileFormat("csv")),
    (f"user_id,n:incr\ngood-1,1\nu,{LONG}\ngood-2,2\n", FileFormat("csv")),
])
def test_an_integer_of_5000_digits_in_a_file_rejects_only_its_record_naming_the_field(data, fmt):
    items = read_file(data.encode(), fmt)
    assert outcomes(items) == [("SourcedRecord", 1 + (fmt.kind == "csv"), None),
                               ("Unparsable", 2 + (fmt.kind == "csv"), "attributes.n"),
                               ("SourcedRecord", 3 + (fmt.kind == "csv"), None)]
    assert "64-bit" in items[1].reason and len(items[1].reason) < 400


@pytest.mark.parametrize("name", sorted(HOSTILE_VALUES))
@pytest.mark.parametrize("kind", ["jsonl", "json"])
def test_each_hostile_json_value_in_a_file_rejects_its_record_alone(name, kind):
    bad = '{"user_id": "u", "attributes": {"x": ' + HOSTILE_VALUES[name] + "}}"
    data = f"{GOOD}\n{bad}\n{GOOD_2}\n" if kind == "jsonl" else f"[{GOOD},\n{bad},\n{GOOD_2}]"
    items = read_file(data.encode(), FileFormat(kind))
    field = None if name in WHOLE_RECORD_FLAWS else "attributes.x"
    assert outcomes(items) == [("SourcedRecord", 1, None), ("Unparsable", 2, field), ("SourcedRecord", 3, None)]
    assert items[1].raw == bad or not isinstance(items[1].raw, str)  # a flawed record: its text as written


@pytest.mark.parametrize("name", sorted(HOSTILE_CELLS))
def test_each_hostile_csv_cell_rejects_its_row_alone_naming_the_column(name):
    column, cell = HOSTILE_CELLS[name]
    data = f"user_id,{column}\ngood-1,\nu,{csv_cell(cell)}\ngood-2,\n"
    items = read_file(data.encode(), FileFormat("csv"))
    assert outcomes(items) == [("SourcedRecord", 2, None), ("Unparsable", 3, f"attributes.{column.split(':')[0]}"),
                               ("SourcedRecord", 4, None)]


def test_nul_and_control_characters_in_csv_cells_never_reach_a_record():
    items = read_file(b'user_id,nickname\nu1,"a\x00b"\nu2,\x1b[2J\nu\x00,x\nu4,"two\nlines"\n', FileFormat("csv"))
    assert outcomes(items) == [("Unparsable", 2, "attributes.nickname"), ("Unparsable", 3, "attributes.nickname"),
                               ("Unparsable", 4, "user_id"), ("SourcedRecord", 5, None)]
    assert "U+0000" in items[0].reason and "U+001B" in items[1].reason


def test_a_header_with_a_control_character_refuses_the_file():
    with pytest.raises(FileRejected, match="control character U\\+0000"):
        plan_file(io.BytesIO(b"user_id,nick\x00name\nu,x\n"), FileFormat("csv"), WHERE)


@given(st.lists(st.integers(min_value=0, max_value=10 ** 6), min_size=1, max_size=10, unique=True)
       .flatmap(lambda ids: st.tuples(*(csv_rows(f"user-{i}") for i in ids))))
def test_hostile_csv_rows_are_rejected_alone_with_their_line_and_field(rows):
    data = ",".join(CSV_HEADER) + "\r\n" + "".join(r.text + "\r\n" for r in rows)
    items = read_file(data.encode(), FileFormat("csv"))
    assert [(i.source.line, isinstance(i, SourcedRecord)) for i in items] == [
        (n, r.good) for n, r in enumerate(rows, start=2)]
    assert [i.field for i in items if isinstance(i, Unparsable)] == [r.field for r in rows if not r.good]


# --- a .json file of one object ----------------------------------------------------------------

def test_a_json_file_of_one_object_over_several_lines_is_refused_once_saying_so():
    data = json.dumps({"user_id": "u", "attributes": {"a": 1, "b": [1, 2]}}, indent=2).encode()
    with pytest.raises(FileRejected, match="a JSON object written over several lines") as refused:
        plan_file(io.BytesIO(data), FileFormat("json"), WHERE)
    assert "JSON array" in str(refused.value) and WHERE in str(refused.value)


def test_a_json_file_of_one_wrapping_object_on_one_line_says_it_is_not_a_record():
    [item] = read_file(json.dumps({"records": [{"user_id": "u"}]}).encode(), FileFormat("json"))
    assert item.field == "user_id" and "'records'" in item.reason and "audience" in item.reason


# --- lines and elements past MAX_RECORD_BYTES ----------------------------------------------------

@pytest.mark.parametrize("compressed", [False, True])
def test_a_jsonl_line_past_the_limit_is_rejected_alone_with_its_start_and_the_next_lines_keep_theirs(compressed):
    limits = InputLimits(max_record_bytes=4096)
    long_line = '{"user_id": "long", "attributes": {"bio": "' + "é" * 10_000 + '"}}'
    data = f"{GOOD}\n{long_line}\n\n{GOOD_2}\n".encode()
    items = read_file(gzip.compress(data) if compressed else data, FileFormat("jsonl", compressed), limits=limits)
    assert outcomes(items) == [("SourcedRecord", 1, None), ("Unparsable", 2, None), ("SourcedRecord", 4, None)]
    assert "longer than 4 KiB (MAX_RECORD_BYTES)" in items[1].reason
    assert items[1].raw["truncated"] is True and items[1].raw["prefix"].startswith('{"user_id": "long"')
    assert len(items[1].raw["prefix"].encode()) <= 1024


def test_a_csv_row_past_the_limit_refuses_the_file():
    limits = InputLimits(max_record_bytes=4096)
    for data in (f"user_id,bio\nu,{'x' * 5000}\n", 'user_id,bio\nu,"' + "line\n" * 1000 + '"\n'):
        with pytest.raises(FileRejected, match="line [0-9]+: a CSV row longer than 4 KiB"):
            plan_file(io.BytesIO(data.encode()), FileFormat("csv"), WHERE, limits=limits)


def test_a_json_array_element_past_the_limit_refuses_the_file():
    limits = InputLimits(max_record_bytes=4096)
    data = json.dumps([{"user_id": "u", "attributes": {"bio": "x" * 5000}}]).encode()
    with pytest.raises(FileRejected, match="line 1: an element longer than 4 KiB"):
        plan_file(io.BytesIO(data), FileFormat("json"), WHERE, limits=limits)


class LongLineStream(io.RawIOBase):
    """A JSON Lines file made as it is read: a good line, one line of `length` bytes, a good line."""

    def __init__(self, length: int):
        self.parts = [(GOOD + "\n").encode(), None, ("\n" + GOOD_2 + "\n").encode()]
        self.left = length

    def read(self, size: int = -1) -> bytes:
        while self.parts:
            part = self.parts[0]
            if part is None:
                if self.left:
                    piece = b"x" * min(size, self.left)
                    self.left -= len(piece)
                    return piece
                self.parts.pop(0)
                continue
            self.parts.pop(0)
            return part
        return b""


def test_a_64_mib_line_is_read_in_bounded_memory_and_linear_time():
    tracemalloc.start()
    try:
        plan = plan_file(LongLineStream(64 * 1024 * 1024), FileFormat("jsonl"), WHERE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.rows == 3 and plan.lines == 3
    assert peak < 24 * 1024 * 1024, f"{peak / 2 ** 20:.0f} MiB held for one long line"


# --- content counted as it inflates --------------------------------------------------------------

def test_content_past_the_ratio_is_refused_as_it_inflates():
    content = (GOOD + "\n").encode() * 400_000  # ~18 MiB, compresses ~400 times
    compressed = gzip.compress(content)
    with pytest.raises(FileRejected, match="inflates to more than 100 times its"):
        plan_file(io.BytesIO(content), FileFormat("jsonl", gzip=True), WHERE, write_part=lambda i, b: "p",
                  compressed_bytes=len(compressed))
    plan = plan_file(io.BytesIO(content), FileFormat("jsonl", gzip=True), WHERE, write_part=lambda i, b: "p",
                     compressed_bytes=len(compressed), limits=InputLimits(max_inflation_ratio=1000))
    assert plan.rows == 400_000


def test_content_past_max_file_bytes_is_refused():
    with pytest.raises(FileRejected, match="more than 8 KiB of content \\(MAX_FILE_BYTES"):
        plan_file(io.BytesIO((GOOD + "\n").encode() * 200), FileFormat("jsonl"), WHERE,
                  limits=InputLimits(max_file_bytes=8192))


class GeneratedStream(io.RawIOBase):
    """A file made as it is read, from parts: bytes, or (byte, count) for a long run of one byte."""

    def __init__(self, *parts):
        self.parts = list(parts)

    def read(self, size: int = -1) -> bytes:
        while self.parts:
            part = self.parts[0]
            if isinstance(part, tuple):
                byte, left = part
                if left:
                    piece = byte * min(size, left)
                    self.parts[0] = (byte, left - len(piece))
                    return piece
                self.parts.pop(0)
                continue
            return self.parts.pop(0)
        return b""


def test_whitespace_between_json_array_elements_is_never_held_whole():
    spaces = 64 * 1024 * 1024
    stream = GeneratedStream((b" ", spaces), f"[{GOOD},".encode(), (b"\n", 1000), (b" ", spaces),
                             f"{GOOD_2}".encode(), (b" ", spaces), b"]", (b"\t", spaces))
    parts: dict[str, bytes] = {}

    def write_part(index: int, chunk: bytes) -> str:
        parts[f"part-{index}"] = chunk
        return f"part-{index}"

    tracemalloc.start()
    try:
        plan = plan_file(stream, FileFormat("json", gzip=True), WHERE, write_part=write_part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * 1024 * 1024, f"{peak / 2 ** 20:.0f} MiB held for whitespace"
    items = [item for chunk in plan.chunks for item in chunk_records(
        parts[chunk.part][chunk.start:chunk.end].decode(), plan.kind, first_line=chunk.first_line,
        source_at=source_at)]
    assert outcomes(items) == [("SourcedRecord", 1, None), ("SourcedRecord", 1001, None)]


@pytest.mark.parametrize("kind, first, second", [("jsonl", GOOD, GOOD_2), ("csv", "user_id\ngood-1", "good-2")])
def test_blank_lines_inside_a_chunk_are_held_no_more_than_a_record_s_worth(kind, first, second):
    data = (first + "\n" + "\r\n" * 20_000 + second + "\n").encode()  # 40,000 bytes of blank lines
    parts: dict[str, bytes] = {}

    def write_part(index: int, chunk: bytes) -> str:
        parts[f"part-{index}"] = chunk
        return f"part-{index}"

    plan = plan_file(io.BytesIO(data), FileFormat(kind, gzip=True), WHERE, write_part=write_part,
                     limits=InputLimits(max_record_bytes=4096))
    assert [len(part) < 4096 + 100 for part in parts.values()] == [True, True]
    items = [item for chunk in plan.chunks for item in chunk_records(
        parts[chunk.part][chunk.start:chunk.end].decode(), plan.kind, first_line=chunk.first_line,
        source_at=source_at, header=plan.header)]
    first_line = 1 + (kind == "csv")
    assert outcomes(items) == [("SourcedRecord", first_line, None), ("SourcedRecord", first_line + 20_001, None)]


RAW_FILES = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=1000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from([b"{", b"}", b"[", b"]", b",", b'"', b"\n", b"\r\n", b"user_id", b":", b"1" * 30,
                              b"\\ud800", b"NaN", b"\xef\xbb\xbf", b" ", b"\x00", b"\xff"]), max_size=60).map(b"".join),
)


@given(RAW_FILES, st.sampled_from(["csv", "jsonl", "json"]), st.booleans())
def test_whatever_bytes_a_file_holds_it_is_refused_whole_or_read_record_by_record(data, kind, compressed):
    try:
        items = read_file(gzip.compress(data) if compressed else data, FileFormat(kind, compressed),
                          InputLimits(max_record_bytes=1024))
    except FileRejected as refused:
        assert WHERE in str(refused) and len(str(refused)) < 1000
        return
    for item in items:
        assert isinstance(item, (SourcedRecord, Unparsable)) and item.source.line >= 1
        if isinstance(item, Unparsable):
            assert item.reason and len(item.reason) < 3000
