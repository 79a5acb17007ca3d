"""Chunk planning: one streaming pass; boundaries never split a record; lines and rows add up."""

from __future__ import annotations

import gzip
import io

import pytest

from usersync.ingest.planning import plan_file
from usersync.parsing.files import FileFormat, FileRejected, chunk_records
from usersync.records import Source

WHERE = "s3://bucket/incoming/file"


def source_at(line: int, ordinal: int) -> Source:
    return Source("s3", bucket="bucket", key="k", line=line, ordinal=ordinal)


def records_by_chunk(data: bytes, fmt: FileFormat, rows_per_chunk: int, **kw):
    parts: dict[str, bytes] = {}

    def write_part(index: int, chunk: bytes) -> str:
        parts[f"part-{index}"] = chunk
        return f"part-{index}"

    stream = io.BytesIO(gzip.decompress(data) if fmt.gzip else data)
    plan = plan_file(stream, fmt, WHERE, rows_per_chunk=rows_per_chunk,
                     write_part=write_part if fmt.gzip else None, **kw)
    chunks = []
    for chunk in plan.chunks:
        raw = parts[chunk.part][chunk.start:chunk.end] if chunk.part else data[chunk.start:chunk.end]
        chunks.append(list(chunk_records(raw.decode(), plan.kind, first_line=chunk.first_line,
                                         source_at=source_at, header=plan.header)))
    return plan, chunks


CSV = ('\ufeffuser_id,note,n:int\r\n'
       'u1,"a, b",1\r\n'
       'u2,"two\r\nlines, and ""quotes""",2\r\n'
       '\r\n'
       'u3,x,3\r\n'
       'u4,"three\nline\nfield",4\r\n'
       'u5,last,5').encode()


@pytest.mark.parametrize("rows_per_chunk", [1, 2, 3, 100])
@pytest.mark.parametrize("compressed", [False, True])
def test_csv_chunks_hold_whole_rows_with_their_lines(rows_per_chunk, compressed):
    data = gzip.compress(CSV) if compressed else CSV
    plan, chunks = records_by_chunk(data, FileFormat("csv", compressed), rows_per_chunk)
    assert plan.header == ["user_id", "note", "n:int"]
    assert plan.rows == 5 and sum(c.rows for c in plan.chunks) == 5
    assert all(c.rows <= rows_per_chunk for c in plan.chunks)
    records = [r for chunk in chunks for r in chunk]
    assert [(r.raw["user_id"], r.source.line) for r in records] == [
        ("u1", 2), ("u2", 3), ("u3", 6), ("u4", 7), ("u5", 10)]
    assert records[1].raw["attributes"]["note"] == 'two\r\nlines, and "quotes"'
    assert records[3].raw["attributes"]["note"] == "three\nline\nfield"
    if compressed:
        assert all(c.part for c in plan.chunks)


def test_chunks_of_a_plain_file_are_contiguous_byte_ranges_after_the_header():
    plan, _ = records_by_chunk(CSV, FileFormat("csv"), 2)
    assert plan.chunks[0].start == len("\ufeffuser_id,note,n:int\r\n".encode())
    for before, after in zip(plan.chunks, plan.chunks[1:]):
        assert before.end <= after.start
    assert plan.chunks[-1].end == len(CSV)


def test_a_chunk_also_closes_at_max_chunk_bytes():
    data = ("user_id,pad\n" + "".join(f"u{i},{'x' * 100}\n" for i in range(50))).encode()
    plan, chunks = records_by_chunk(data, FileFormat("csv"), 1000, max_chunk_bytes=1024)
    assert len(plan.chunks) > 1 and all(c.end - c.start <= 1024 + 120 for c in plan.chunks)
    assert sum(len(c) for c in chunks) == 50


@pytest.mark.parametrize("compressed", [False, True])
def test_json_lines_chunks(compressed):
    text = b'{"user_id": "a"}\n\n{"user_id": "b"}\nnot json\n{"user_id": "c"}'
    data = gzip.compress(text) if compressed else text
    plan, chunks = records_by_chunk(data, FileFormat("jsonl", compressed), 2)
    assert plan.rows == 4 and [len(c) for c in chunks] == [2, 2]
    assert [r.source.line for c in chunks for r in c] == [1, 3, 4, 5]


@pytest.mark.parametrize("compressed", [False, True])
def test_json_array_chunks_split_between_elements(compressed):
    text = '[\n {"user_id": "a", "attributes": {"s": "é, ]"}},\n {"user_id": "b"},\n\n {"user_id": "c"}\n]\n'.encode()
    data = gzip.compress(text) if compressed else text
    plan, chunks = records_by_chunk(data, FileFormat("json", compressed), 2)
    assert plan.kind == "json" and plan.rows == 3
    assert [(r.raw["user_id"], r.source.line) for c in chunks for r in c] == [("a", 2), ("b", 3), ("c", 5)]
    assert chunks[0][0].raw["attributes"]["s"] == "é, ]"


def test_a_json_file_of_one_object_per_line_is_read_as_json_lines():
    plan, chunks = records_by_chunk(b'{"user_id": "a"}\n{"user_id": "b"}\n', FileFormat("json"), 10)
    assert plan.kind == "jsonl" and len(chunks[0]) == 2


def test_an_empty_array_and_a_header_only_csv_have_no_chunks():
    assert plan_file(io.BytesIO(b" [ ] "), FileFormat("json"), WHERE).chunks == []
    assert plan_file(io.BytesIO(b"user_id,a\n"), FileFormat("csv"), WHERE).chunks == []


@pytest.mark.parametrize("kind", ["csv", "jsonl", "json"])
@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n \r\n\t\n"])
def test_an_empty_file_of_any_format_has_no_records_and_no_chunks(kind, content):
    """One rule for every format (docs/record-format.md): nothing but whitespace is no records, not an error."""
    plan = plan_file(io.BytesIO(content), FileFormat(kind), WHERE)
    assert plan.chunks == [] and plan.rows == 0


@pytest.mark.parametrize(("data", "fmt", "message"), [
    ("user_id\nAndré\n".encode("latin-1"), FileFormat("csv"), r"line 2 is not UTF-8"),
    ("user_id\nu1\n".encode("utf-16"), FileFormat("csv"), "UTF-16"),
    (gzip.compress(b"user_id\n"), FileFormat("csv"), "gzip-compressed but its name"),
    (b"age:int\n1\n", FileFormat("csv"), "needs a user_id column"),
    (b'user_id\n"unclosed\n' + b"x\n" * 10 + b'u,"' + b"y" * 1_100_000 + b'"\n', FileFormat("csv"), "line"),
    (b'[{"user_id": "a"}, {"user_id": }]', FileFormat("json"), "line 1: not valid JSON"),
    (b'[{"user_id": "a"},]', FileFormat("json"), "trailing comma"),
    (b'[{"user_id": "a"}', FileFormat("json"), "not"),
    (b'[{"user_id": "a"}] x', FileFormat("json"), "unexpected content"),
    (b'"just a string"', FileFormat("json"), "must hold one JSON array"),
])
def test_a_file_that_cannot_be_read_as_a_whole_is_refused_with_file_and_line(data, fmt, message):
    with pytest.raises(FileRejected, match=message) as refused:
        plan_file(io.BytesIO(data), fmt, WHERE, write_part=(lambda i, b: "p") if fmt.gzip else None)
    assert WHERE in str(refused.value)


def test_memory_is_bounded_by_a_chunk_not_the_file():
    """The pass reads blocks; nothing of the file but one chunk's part is held."""
    class CountingStream(io.BytesIO):
        largest = 0

        def read(self, size=-1):
            assert size and size > 0, "the planner must never read the whole stream at once"
            data = super().read(size)
            CountingStream.largest = max(CountingStream.largest, len(data))
            return data

    data = ("user_id,n:int\n" + "".join(f"u{i},{i}\n" for i in range(20000))).encode()
    plan = plan_file(CountingStream(data), FileFormat("csv"), WHERE, rows_per_chunk=1000)
    assert len(plan.chunks) == 20 and plan.rows == 20000
    assert CountingStream.largest <= 4 * 1024 * 1024
