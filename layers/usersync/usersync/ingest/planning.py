"""One streaming pass over a file that finds where its chunks start and end.

A chunk is a run of whole records (at most `rows_per_chunk` of them, and about `max_chunk_bytes`)
that a chunk job reads and delivers on its own. Boundaries are found by reading records the way
the chunk jobs will (the same csv.reader, so a newline inside a quoted CSV field never splits a
row), and each chunk knows the line its first record starts on.

Plain files are split by byte range: chunk jobs read their range of the object itself. Gzip
cannot be read from the middle, so for a .gz file the pass decompresses once and hands each
chunk's plain bytes to `write_part` (the caller stores them under a prefix that never triggers
ingestion). The pass also refuses, before anything is delivered, a file that is not UTF-8 or
whose header is wrong, or whose content passes MAX_FILE_BYTES or MAX_INFLATION_RATIO (counted as it
inflates). Memory stays bounded by one chunk and one record whatever the file holds: a line longer
than MAX_RECORD_BYTES is skipped as it streams, never held (a JSON Lines line is then rejected
alone; a CSV row or JSON array element refuses the file, whose next record cannot be found).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from usersync.limits import DEFAULT_LIMITS, InputLimits, human_size
from usersync.parsing.files import (
    OVERSIZED, PREVIEW_BYTES, CsvColumns, FileFormat, FileRejected, check_start, limit_csv_fields, not_utf8,
)
from usersync.parsing.strict_json import WHITESPACE, JsonSyntaxError, StrictJson

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
    kind: str | None = None   # OVERSIZED: one record too long to read, [start, end) its first bytes


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

    def oversized(self, start: int, length: int, line: int, preview: bytes) -> None:
        """A record of `length` bytes at `start`, too long to read: a chunk of its own that holds
        only its first bytes; the next chunk starts after it."""
        self.close(start)
        index = len(self.plan.chunks)
        if self.write_part is not None:
            part = self.write_part(index, preview)
            self.plan.chunks.append(ChunkSpec(index, 0, len(preview), line, 1, part, OVERSIZED))
        else:
            self.plan.chunks.append(ChunkSpec(index, start, start + len(preview), line, 1, None, OVERSIZED))
        self.plan.rows += 1
        self.begin(start + length, line + 1)


class _Replay:
    """A stream with its first block read already (to sniff the content) and given back."""

    def __init__(self, first: bytes, rest: BinaryIO):
        self.first, self.rest = first, rest

    def read(self, size: int = -1) -> bytes:
        if self.first:
            data, self.first = self.first, b""
            return data
        return self.rest.read(size)


class _ContentLimit:
    """The file's content, counted as it is read (as it inflates, for gzip): refused past `limit`."""

    def __init__(self, stream: BinaryIO, where: str, limits: InputLimits, compressed_bytes: int | None):
        self.stream, self.where, self.limits, self.compressed = stream, where, limits, compressed_bytes
        self.limit, self.count = limits.max_content_bytes(compressed_bytes), 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        if self.count > self.limit:
            if self.limit < self.limits.max_file_bytes:
                raise FileRejected(
                    f"{self.where} inflates to more than {self.limits.max_inflation_ratio:,} times its "
                    f"{self.compressed:,} compressed bytes (MAX_INFLATION_RATIO): a gzip bomb, or content too "
                    "repetitive; split it into smaller files")
            raise FileRejected(f"{self.where} holds more than {human_size(self.limits.max_file_bytes)} of content "
                               "(MAX_FILE_BYTES, after decompression): split it into smaller files")
        return data



def plan_file(stream: BinaryIO, fmt: FileFormat, where: str, *, rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK,
              max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES, write_part: WritePart | None = None,
              limits: InputLimits = DEFAULT_LIMITS, compressed_bytes: int | None = None) -> FilePlan:
    """Read `stream` (the file's content, decompressed) once and plan its chunks.
    `write_part` is required when the object cannot be read by byte range (gzip);
    `compressed_bytes`, the object's size, bounds what a gzip file may inflate to."""
    if not fmt.splittable and write_part is None:
        raise ValueError("a file that cannot be read by byte range needs write_part")
    stream = _ContentLimit(stream, where, limits, compressed_bytes if fmt.gzip else None)
    first = stream.read(READ_BLOCK)
    bom = check_start(first, where)
    source = _Replay(first, stream)
    plan = FilePlan(fmt)
    if len(first) < READ_BLOCK and not first[len(bom):].strip():
        # Empty (or whitespace only), whatever the format: no records, nothing to refuse.
        plan.kind, plan.content_bytes, plan.lines = fmt.kind, len(first), first.count(b"\n")
        return plan
    chunker = _Chunker(plan, rows_per_chunk, max_chunk_bytes, write_part)
    kind = fmt.kind
    if kind == "json" and first[len(bom):].lstrip()[:1] == b"{":
        kind = "jsonl"  # a .json file of one object per line is JSON Lines
        _refuse_one_object_over_lines(first[len(bom):], where, limits)
    plan.kind = kind
    if kind == "json":
        _plan_json_array(source, bom, plan, chunker, where, limits)
    else:
        _plan_lines(source, bom, plan, chunker, where, limits)
    return plan


def _refuse_one_object_over_lines(first: bytes, where: str, limits: InputLimits) -> None:
    """A .json file of one object written over several lines is not one record per line: say so
    once, rather than 'not JSON' for each of its lines."""
    text = first.decode("utf-8", "replace").lstrip(" \t\r\n")
    line = text.split("\n", 1)[0]
    reader = StrictJson(limits.max_nesting_depth)
    try:
        reader.decode(line)
        return  # the first line is a record: JSON Lines
    except JsonSyntaxError:
        pass
    try:
        reader.value_at(text, 0)
    except JsonSyntaxError:
        return  # not one object either: JSON Lines whose lines are rejected one by one
    raise FileRejected(f"{where} holds a JSON object written over several lines: a .json file holds one JSON array "
                       "of records ([{...}, {...}]), or one record per line (JSON Lines)")


@dataclass(slots=True)
class _Overlong:
    """A line longer than MAX_RECORD_BYTES, skipped as it streamed: its length and first bytes."""
    length: int
    preview: bytes


def _preview(line: bytes) -> bytes:
    """The first PREVIEW_BYTES of a line, cut at a character boundary (the chunk reads them as UTF-8)."""
    head = line[:PREVIEW_BYTES]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 3 and error.reason == "unexpected end of data":
            return head[:error.start]
        raise
    return head


def _raw_lines(stream: _Replay, max_line: int) -> Iterator[bytes | _Overlong]:
    """Lines split on \\n only, each with its terminator (the last one maybe without). A line longer
    than `max_line` bytes is never held: past the limit it is counted, not kept (an _Overlong)."""
    rest = b""
    skipping: _Overlong | None = None
    while block := stream.read(READ_BLOCK):
        if skipping is not None:
            cut = block.find(b"\n") + 1
            if not cut:
                skipping.length += len(block)
                continue
            skipping.length += cut
            yield skipping
            skipping, block = None, block[cut:]
        rest = rest + block if rest else block
        cut = rest.rfind(b"\n") + 1
        if cut:
            for line in io.BytesIO(rest[:cut]):
                yield line if len(line) <= max_line else _Overlong(len(line), line[:PREVIEW_BYTES])
            rest = rest[cut:]
        if len(rest) > max_line:
            skipping, rest = _Overlong(len(rest), rest[:PREVIEW_BYTES]), b""
    if skipping is not None:
        yield skipping
    elif rest:
        yield rest if len(rest) <= max_line else _Overlong(len(rest), rest[:PREVIEW_BYTES])


def _plan_lines(stream: _Replay, bom: bytes, plan: FilePlan, chunker: _Chunker, where: str,
                limits: InputLimits) -> None:
    """CSV and JSON Lines: records end at line ends (CSV: outside quoted fields)."""
    position, number = 0, 0
    data = chunker.data
    max_record = limits.max_record_bytes
    chunker.begin(len(bom), 1)

    def decoded(raw: bytes) -> str:
        try:
            return raw.decode("utf-8") if number > 1 or not bom else raw[len(bom):].decode("utf-8")
        except UnicodeDecodeError as error:
            raise not_utf8(where, number, error) from None

    record_end = 0  # where the pending chunk's last record ends: blank lines after it are held up to a record's worth

    if plan.kind == "jsonl":
        for raw in _raw_lines(stream, max_record):
            number += 1
            if isinstance(raw, _Overlong):
                try:
                    preview = _preview(raw.preview)
                except UnicodeDecodeError as error:
                    raise not_utf8(where, number, error) from None
                chunker.oversized(position, raw.length, number, preview)
                position += raw.length
                continue
            position += len(raw)
            if data is not None:
                data.extend(raw if number > 1 or not bom else raw[len(bom):])
            if decoded(raw).strip():
                chunker.record(position, number + 1)
                record_end = position
            elif chunker.rows == 0:  # blank lines between chunks start no chunk
                chunker.begin(position, number + 1)
            elif position - record_end > max_record:
                chunker.close(record_end)
                chunker.begin(position, number + 1)
    else:
        limit_csv_fields(limits)
        row_start = 0

        def lines() -> Iterator[str]:
            nonlocal position, number
            for raw in _raw_lines(stream, max_record):
                number += 1
                length = raw.length if isinstance(raw, _Overlong) else len(raw)
                if isinstance(raw, _Overlong) or position + length - row_start > max_record:
                    raise FileRejected(
                        f"{where} line {number}: a CSV row longer than {human_size(max_record)} (MAX_RECORD_BYTES), "
                        "or an unclosed quote: the rows after it cannot be found")
                position += length
                if data is not None:
                    data.extend(raw if number > 1 or not bom else raw[len(bom):])
                yield decoded(raw)

        reader = csv.reader(lines())
        try:
            header = next(reader, None)
            CsvColumns(header or [], where)
            plan.header = header
            chunker.begin(position, number + 1)
            row_start = position
            for row in reader:
                row_start = position
                if row:
                    chunker.record(position, number + 1)
                    record_end = position
                elif chunker.rows == 0:
                    chunker.begin(position, number + 1)
                elif position - record_end > max_record:
                    chunker.close(record_end)
                    chunker.begin(position, number + 1)
        except csv.Error as error:
            raise FileRejected(f"{where} line {number}: {error} (an unclosed quote?)") from None
    chunker.close(position)
    plan.lines, plan.content_bytes = number, position


def _plan_json_array(stream: _Replay, bom: bytes, plan: FilePlan, chunker: _Chunker, where: str,
                     limits: InputLimits) -> None:
    """A JSON array: chunks are runs of whole elements; their bytes exclude the brackets."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    text, eof = "", False
    base_bytes, base_line = len(bom), 1   # where text[0] is in the content
    skip = len(bom)                        # the BOM is skipped, not decoded
    reader = StrictJson(limits.max_nesting_depth)
    max_record = limits.max_record_bytes

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
        nonlocal chunk_start_line
        while True:
            index = WHITESPACE.match(text, index).end()
            if index < len(text) or eof:
                return index
            # Whitespace up to the end of what was read: hold no more of it than a record's worth.
            if chunk_start_line is not None and index - last_end > max_record:
                _close_json_chunk(chunker, text, last_end, base_bytes)  # the chunk ends at its last element
                chunk_start_line = None
            if chunk_start_line is None:
                trim(index)
                index = 0
            more()

    def rejected(message: str, index: int) -> FileRejected:
        return FileRejected(f"{where} line {base_line + text.count(chr(10), 0, index)}: {message}")

    too_long = f"an element longer than {human_size(max_record)} (MAX_RECORD_BYTES): the elements after it cannot be found"
    chunk_start_line: int | None = None
    last_end = 0  # where the last element of the pending chunk ends in `text`
    more()
    position = skip_space(0)
    if position >= len(text) or text[position] != "[":
        raise rejected("a .json file must hold one JSON array of records (or one record per line)", position)
    position = skip_space(position + 1)
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
                end, _ = reader.value_at(text, position)
                break
            except JsonSyntaxError as error:
                if len(text) - position > max_record:
                    raise rejected(too_long, position) from None
                if eof:
                    raise rejected(f"not valid JSON: {error.message}", error.position) from None
                more()
        if end - position > max_record // 4 and len(text[position:end].encode("utf-8")) > max_record:
            raise rejected(too_long, position)
        chunker.rows += 1
        last_end = end
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
