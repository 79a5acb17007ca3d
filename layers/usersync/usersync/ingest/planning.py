"""One streaming pass over a file that finds where its chunks start and end.

A chunk is a run of whole records (at most `rows_per_chunk` of them, and about `max_chunk_bytes`)
that a chunk job reads and delivers on its own. Boundaries are found by reading records the way
the chunk jobs will (the same csv.reader, so a newline inside a quoted CSV field never splits a
row), and each chunk knows the line its first record starts on.

Plain files are split by byte range: chunk jobs read their range of the object itself. Gzip
cannot be read from the middle, so for a .gz file the pass decompresses once and hands each
chunk's plain bytes to `write_part` (the caller stores them under a prefix that never triggers
ingestion). The pass also refuses, before anything is delivered, a file that is not UTF-8 or
whose header is wrong. Memory stays bounded by one chunk whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from usersync.parsing.files import (
    MAX_JSON_ELEMENT_CHARS, CsvColumns, FileFormat, FileRejected, check_start, not_utf8,
)

READ_BLOCK = 4 * 1024 * 1024
DEFAULT_ROWS_PER_CHUNK = 10_000   # = Batch's bulk limit: one call per Batch destination per chunk
DEFAULT_MAX_CHUNK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """Bytes [start, end) of the object (or of `part`, a plain copy, for gzip files)."""
    index: int
    start: int
    end: int
    first_line: int
    rows: int
    part: str | None = None


@dataclass(slots=True)
class FilePlan:
    format: FileFormat
    header: list[str] | None = None     # CSV: the header cells, sent with every chunk job
    kind: str = ""                      # what the chunks hold: "csv", "jsonl" or "json"
    chunks: list[ChunkSpec] = field(default_factory=list)
    rows: int = 0                       # records in the file (blank lines are not records)
    lines: int = 0
    content_bytes: int = 0              # after decompression


WritePart = Callable[[int, bytes], str]  # (chunk index, plain bytes) -> the part's key


class _Chunker:
    """Closes a chunk every `rows_per_chunk` records or `max_chunk_bytes` bytes."""

    def __init__(self, plan: FilePlan, rows_per_chunk: int, max_chunk_bytes: int, write_part: WritePart | None):
        self.plan, self.rows_per_chunk, self.max_chunk_bytes = plan, rows_per_chunk, max_chunk_bytes
        self.write_part = write_part
        self.start, self.first_line, self.rows = 0, 1, 0
        self.data: bytearray | None = bytearray() if write_part else None

    def begin(self, start: int, first_line: int) -> None:
        self.start, self.first_line, self.rows = start, first_line, 0
        if self.data is not None:
            self.data.clear()

    def record(self, end: int, next_line: int) -> None:
        """A record ended at byte `end`; the next one starts on line `next_line`."""
        self.rows += 1
        if self.rows >= self.rows_per_chunk or end - self.start >= self.max_chunk_bytes:
            self.close(end)
            self.begin(end, next_line)

    def close(self, end: int) -> None:
        if not self.rows:
            return
        index = len(self.plan.chunks)
        if self.write_part is not None:
            part = self.write_part(index, bytes(self.data[: end - self.start]))
            self.plan.chunks.append(ChunkSpec(index, 0, end - self.start, self.first_line, self.rows, part))
            del self.data[: end - self.start]
        else:
            self.plan.chunks.append(ChunkSpec(index, self.start, end, self.first_line, self.rows))
        self.plan.rows += self.rows
        self.rows = 0


class _Replay:
    """A stream with its first block read already (to sniff the content) and given back."""

    def __init__(self, first: bytes, rest: BinaryIO):
        self.first, self.rest = first, rest

    def read(self, size: int = -1) -> bytes:
        if self.first:
            data, self.first = self.first, b""
            return data
        return self.rest.read(size)


def plan_file(stream: BinaryIO, fmt: FileFormat, where: str, *, rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK,
              max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES, write_part: WritePart | None = None) -> FilePlan:
    """Read `stream` (the file's content, decompressed) once and plan its chunks.
    `write_part` is required when the object cannot be read by byte range (gzip)."""
    if not fmt.splittable and write_part is None:
        raise ValueError("a file that cannot be read by byte range needs write_part")
    first = stream.read(READ_BLOCK)
    bom = check_start(first, where)
    source = _Replay(first, stream)
    plan = FilePlan(fmt)
    chunker = _Chunker(plan, rows_per_chunk, max_chunk_bytes, write_part)
    kind = fmt.kind
    if kind == "json" and first[len(bom):].lstrip()[:1] in (b"{", b""):
        kind = "jsonl"  # a .json file of one object per line is JSON Lines
    plan.kind = kind
    if kind == "json":
        _plan_json_array(source, bom, plan, chunker, where)
    else:
        _plan_lines(source, bom, plan, chunker, where)
    return plan


def _raw_lines(stream: _Replay) -> Iterator[bytes]:
    """Lines split on \\n only, each with its terminator (the last one maybe without)."""
    rest = b""
    while True:
        block = stream.read(READ_BLOCK)
        if not block:
            break
        rest = rest + block if rest else block
        if b"\n" not in rest:
            continue
        cut = rest.rindex(b"\n") + 1
        yield from io.BytesIO(rest[:cut])
        rest = rest[cut:]
    if rest:
        yield rest


def _plan_lines(stream: _Replay, bom: bytes, plan: FilePlan, chunker: _Chunker, where: str) -> None:
    """CSV and JSON Lines: records end at line ends (CSV: outside quoted fields)."""
    position, number = 0, 0
    data = chunker.data

    def decoded() -> Iterator[str]:
        nonlocal position, number
        for raw in _raw_lines(stream):
            number += 1
            position += len(raw)
            if data is not None:
                data.extend(raw if number > 1 or not bom else raw[len(bom):])
            try:
                yield raw.decode("utf-8") if number > 1 or not bom else raw[len(bom):].decode("utf-8")
            except UnicodeDecodeError as error:
                raise not_utf8(where, number, error) from None

    lines = decoded()
    chunker.begin(len(bom), 1)
    if plan.kind == "jsonl":
        for line in lines:
            if line.strip():
                chunker.record(position, number + 1)
            elif chunker.rows == 0:  # blank lines between chunks start no chunk
                chunker.begin(position, number + 1)
    else:
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if header is None:
                raise FileRejected(f"{where} is empty: a CSV file needs a header line")
            CsvColumns(header, where)
            plan.header = header
            chunker.begin(position, number + 1)
            for row in reader:
                if row:
                    chunker.record(position, number + 1)
                elif chunker.rows == 0:
                    chunker.begin(position, number + 1)
        except csv.Error as error:
            raise FileRejected(f"{where} line {number}: {error} (an unclosed quote?)") from None
    chunker.close(position)
    plan.lines, plan.content_bytes = number, position


def _plan_json_array(stream: _Replay, bom: bytes, plan: FilePlan, chunker: _Chunker, where: str) -> None:
    """A JSON array: chunks are runs of whole elements; their bytes exclude the brackets."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    text, eof = "", False
    base_bytes, base_line = len(bom), 1   # where text[0] is in the content
    skip = len(bom)                        # the BOM is skipped, not decoded

    def more() -> None:
        nonlocal text, eof, skip
        block = stream.read(READ_BLOCK)
        if skip:
            block, skip = block[skip:], 0
        eof = not block
        try:
            text += decoder.decode(block, final=eof)
        except UnicodeDecodeError as error:
            raise not_utf8(where, base_line + text.count("\n"), error) from None

    def trim(index: int) -> None:
        """Drop text[:index], keeping the byte and line offsets of what remains."""
        nonlocal text, base_bytes, base_line
        base_bytes += len(text[:index].encode("utf-8"))
        base_line += text.count("\n", 0, index)
        text = text[index:]

    def skip_space(index: int) -> int:
        while True:
            while index < len(text) and text[index] in " \t\r\n":
                index += 1
            if index < len(text) or eof:
                return index
            more()

    def rejected(message: str, index: int) -> FileRejected:
        return FileRejected(f"{where} line {base_line + text.count(chr(10), 0, index)}: {message}")

    more()
    position = skip_space(0)
    if position >= len(text) or text[position] != "[":
        raise rejected("a .json file must hold one JSON array of records (or one record per line)", position)
    position = skip_space(position + 1)
    decode = json.JSONDecoder().raw_decode
    chunk_start_line = None
    while True:
        if position >= len(text):
            raise rejected("the JSON array is not closed", position)
        if text[position] == "]":
            break
        if chunk_start_line is None:  # the first element of a chunk: its bytes start here
            trim(position)
            position = 0
            chunk_start_line = base_line
            chunker.begin(base_bytes, base_line)
        while True:
            try:
                _, end = decode(text, position)
                break
            except json.JSONDecodeError as error:
                if eof or len(text) - position > MAX_JSON_ELEMENT_CHARS:
                    raise rejected(f"not valid JSON: {error.msg}", error.pos) from None
                more()
            except RecursionError:
                raise rejected("the JSON nests too deeply", position) from None
        chunker.rows += 1
        full = chunker.rows >= chunker.rows_per_chunk or end >= chunker.max_chunk_bytes
        if full:
            _close_json_chunk(chunker, text, end, base_bytes)
            chunk_start_line = None
        position = skip_space(end)
        if position < len(text) and text[position] == ",":
            position = skip_space(position + 1)
            if position < len(text) and text[position] == "]":
                raise rejected("a trailing comma ends the JSON array", position)
        elif position < len(text) and text[position] != "]":
            raise rejected("expected ',' or ']' after an element of the array", position)
    if chunk_start_line is not None:
        _close_json_chunk(chunker, text, _last_element_end(text, position), base_bytes)
    tail = skip_space(position + 1)
    while not eof:  # anything after the array but whitespace is an error
        more()
        tail = skip_space(tail)
    if tail < len(text):
        raise rejected("unexpected content after the JSON array", tail)
    plan.lines = base_line + text.count("\n")
    plan.content_bytes = base_bytes + len(text.encode("utf-8"))


def _last_element_end(text: str, closing: int) -> int:
    """The end of the last element before the closing bracket at `closing`."""
    end = closing
    while end > 0 and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def _close_json_chunk(chunker: _Chunker, text: str, end: int, base_bytes: int) -> None:
    """The current chunk (text[0:end], text trimmed at its first element) is complete."""
    if chunker.data is not None:
        chunker.data[:] = text[:end].encode("utf-8")
    end_bytes = base_bytes + (end if text.isascii() else len(text[:end].encode("utf-8")))
    chunker.close(end_bytes)
