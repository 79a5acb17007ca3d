"""S3 files -> records with their sources: CSV, JSON Lines and JSON arrays, each maybe gzip.

A file is read in chunks (usersync.ingest.planning finds their boundaries); this module turns
the text of one chunk into records. Every row becomes the same record dict a JSON user would
write and goes through `parse_record`, so files and SQS messages share one validation path.

CSV (docs/record-format.md): a header row, `user_id` (or `install_id`, `audience`, `action` for audience
files) and one column per attribute, typed by a suffix:

    user_id,nickname,age:int,level:float,vip:bool,signup:date,avatar:url,hobbies:tags,points:incr

An empty cell leaves the attribute unchanged; the cell `{null}` removes it (REMOVE_MARKER).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from usersync.limits import DEFAULT_LIMITS, InputLimits, human_size
from usersync.parsing.strict_json import Decoded, JsonSyntaxError, StrictJson
from usersync.records import (
    INT_MAX, INT_MIN, REMOVE, InvalidRecord, InvalidValue, Operation, Record, ReplaceTags, Source, SourcedRecord,
    Unparsable, built_change, check_text, fast_object, fast_operation, integer_out_of_range, parse_record, set_value,
    shown, sourced,
)

REMOVE_MARKER = "{null}"
TAG_SEPARATOR = "|"
OVERSIZED = "oversized"  # the kind of a chunk holding one record past MAX_RECORD_BYTES: only its start is read
PREVIEW_BYTES = 1024     # of such a record, kept for its failed-records envelope


def limit_csv_fields(limits: InputLimits) -> None:
    """The csv module's cell limit (one per process) is the record limit: a longer cell is most
    likely an unclosed quote, and is refused before it is held."""
    csv.field_size_limit(limits.max_record_bytes)


limit_csv_fields(DEFAULT_LIMITS)

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
GZIP_MAGIC = b"\x1f\x8b"


class FileRejected(ValueError):
    """The file as a whole cannot be read (format, encoding, header): nothing of it is delivered.
    The message names the file and says what to change."""


# --- file formats ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FileFormat:
    kind: str          # "csv", "jsonl" or "json" (a JSON array)
    gzip: bool = False

    @classmethod
    def of_key(cls, key: str) -> FileFormat:
        """By the key's suffixes: .csv, .jsonl / .ndjson, .json, each optionally followed by .gz."""
        name = key.rsplit("/", 1)[-1].lower()
        gzip = name.endswith((".gz", ".gzip"))
        if gzip:
            name = name.rsplit(".", 1)[0]
        for suffixes, kind in (((".csv",), "csv"), ((".jsonl", ".ndjson"), "jsonl"), ((".json",), "json")):
            if name.endswith(suffixes):
                return cls(kind, gzip)
        raise FileRejected(
            f"{key}: unsupported file type; name files .csv, .jsonl, .ndjson or .json, optionally followed by .gz")

    @property
    def splittable(self) -> bool:
        """Byte ranges of the object itself can be read independently (not gzip)."""
        return not self.gzip


def check_start(first_bytes: bytes, where: str) -> bytes:
    """The first bytes of the (decompressed) content: refuse what is not UTF-8; return the BOM to skip."""
    if first_bytes.startswith(_UTF16_BOMS):
        raise FileRejected(f"{where} is UTF-16 encoded: save it as UTF-8 (with or without BOM)")
    if first_bytes.startswith(GZIP_MAGIC):
        raise FileRejected(f"{where} is gzip-compressed but its name does not end in .gz: rename it")
    return UTF8_BOM if first_bytes.startswith(UTF8_BOM) else b""


def not_utf8(where: str, line: int, error: UnicodeDecodeError) -> FileRejected:
    return FileRejected(
        f"{where} line {line} is not UTF-8 ({error.reason} at byte {error.start} of the line): "
        "save the file as UTF-8 (with or without BOM)")


# --- CSV: the column plan -------------------------------------------------------------------

class CellError(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


_DIGITS = re.compile(r"\s*[+-]?\d+\s*")


def _integer(cell: str, column: str) -> int | None:
    """The cell as an integer, None if it is not one. int() refuses more than 4,300 digits: such a
    cell is an integer, just out of range."""
    try:
        return int(cell)
    except ValueError:
        if _DIGITS.fullmatch(cell):
            raise CellError(f"{integer_out_of_range(f'an integer of {len(cell.strip()):,} characters')} "
                            f"(column {column})", column) from None
        return None


def _int(cell: str, column: str) -> int:
    value = _integer(cell, column)
    if value is None:
        raise CellError(f"{shown(cell)} is not an integer (column {column})", column)
    return value


def _number(cell: str, column: str) -> int | float:
    value = _integer(cell, column)
    if value is not None:
        return value
    try:
        return float(cell)
    except ValueError:
        raise CellError(f"{shown(cell)} is not a number (column {column})", column) from None


def _date(cell: str, column: str) -> dict[str, Any]:
    epoch = _integer(cell, column) if _EPOCH.fullmatch(cell) else None
    return {"$date": cell.strip() if epoch is None else epoch}


_TRUE, _FALSE = frozenset(("true", "1")), frozenset(("false", "0"))


def _bool(cell: str, column: str) -> bool:
    lowered = cell.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CellError(f"{shown(cell)} is not a boolean: write true/false or 1/0 (column {column})", column)


def _tags(cell: str) -> list[str]:
    return [tag for tag in map(str.strip, cell.split(TAG_SEPARATOR)) if tag]


_EPOCH = re.compile(r"[+-]?\d+")

# suffix -> (cell -> record value). Each value is what a JSON record would hold.
_CONVERTERS: dict[str, Callable[[str, str], Any]] = {
    "": lambda cell, column: cell,
    "string": lambda cell, column: cell,
    "int": lambda cell, column: _int(cell, column),
    "float": lambda cell, column: float(_number(cell, column)),
    "bool": _bool,
    "date": _date,
    "url": lambda cell, column: {"$url": cell.strip()},
    "tags": lambda cell, column: _tags(cell),
    "incr": lambda cell, column: {"$incr": _number(cell, column)},
    "decr": lambda cell, column: {"$decr": _number(cell, column)},
}
_STRING, _INT, _FLOAT, _BOOL, _DATE, _TAGS, _OTHER = range(7)  # how the fast path (CsvColumns.fast_record) reads a column
_FAST_KINDS = {None: _STRING, _CONVERTERS[""]: _STRING, _CONVERTERS["string"]: _STRING, _CONVERTERS["int"]: _INT,
               _CONVERTERS["float"]: _FLOAT, _bool: _BOOL, _date: _DATE, _CONVERTERS["tags"]: _TAGS}
_EDITS = {"add": "$add", "remove": "$remove"}  # tag collection edits: `locations:add`, `locations:remove`
SUFFIXES = tuple(s for s in (*_CONVERTERS, *_EDITS) if s != "string")

USER_KEYS = ("user_id",)
AUDIENCE_KEYS = ("install_id", "audience", "action")


@dataclass(frozen=True, slots=True)
class _Column:
    index: int
    name: str       # the attribute name
    header: str     # the header cell as written, for messages
    convert: Callable[[str, str], Any] | None  # None: the cell is the value (a string column)


class CsvColumns:
    """The plan for a CSV file, made once from its header: which cell becomes which field of
    the record, converted how. Rows then cost a loop over precomputed columns."""

    def __init__(self, header: list[str], where: str = "the file"):
        self.header = header
        self.width = len(header)
        names = [cell.strip() for cell in header]
        if not any(names):
            raise FileRejected(f"{where}: the first line must be a header (user_id, attributes...)")
        seen: dict[str, int] = {}
        self.keys: list[tuple[int, str]] = []            # user_id / install_id, audience, action
        self.attributes: list[_Column] = []
        self.edits: list[tuple[int, str, str, str]] = []  # (index, attribute, "$add"/"$remove", header)
        self.overwrite: int | None = None
        self.destinations: int | None = None
        self.tags: int | None = None
        self.delete: int | None = None        # profile files: `true` makes the row a deletion
        self.install_ids: int | None = None   # with it: the install ids to remove from audiences
        for index, written in enumerate(names):
            if not written:
                raise FileRejected(f"{where}: column {index + 1} of the header has no name")
            try:
                check_text(written, f"column {index + 1} of the header", name=True)
            except InvalidValue as error:
                raise FileRejected(f"{where}: {error}") from None
            if written in seen:
                raise FileRejected(f"{where}: column {shown(written)} appears twice in the header")
            seen[written] = index
            name, _, suffix = written.partition(":")
            name, suffix = name.strip(), suffix.strip().lower()
            if not name:
                raise FileRejected(f"{where}: header column {shown(written)} has a type but no name")
            if name in USER_KEYS + AUDIENCE_KEYS + ("overwrite", "destinations", "tags", "delete", "install_ids"):
                if suffix:
                    raise FileRejected(f"{where}: column {shown(name)} takes no type suffix")
                if name == "overwrite":
                    self.overwrite = index
                elif name == "delete":
                    self.delete = index
                elif name == "install_ids":
                    self.install_ids = index
                elif name == "destinations":
                    self.destinations = index
                elif name == "tags":
                    self.tags = index
                else:
                    self.keys.append((index, name))
                continue
            if suffix in _EDITS:
                self.edits.append((index, name, _EDITS[suffix], written))
            elif suffix in ("", "string"):
                self.attributes.append(_Column(index, name, written, None))
            elif suffix in _CONVERTERS:
                self.attributes.append(_Column(index, name, written, _CONVERTERS[suffix]))
            else:
                raise FileRejected(
                    f"{where}: column {shown(written)} has an unknown type suffix :{suffix[:30]} "
                    f"(use one of {', '.join(':' + s for s in SUFFIXES if s)})")
        key_names = {name for _, name in self.keys}
        self.audience = bool(key_names & set(AUDIENCE_KEYS))
        needed = AUDIENCE_KEYS if self.audience else USER_KEYS
        if key_names != set(needed) or (self.audience and self.overwrite is not None):
            raise FileRejected(
                f"{where}: the header needs a user_id column (profile file) or install_id, audience and "
                f"action columns (audience file), not both; found {', '.join(sorted(key_names)) or 'neither'}")
        if not self.audience and self.tags is not None:
            raise FileRejected(f"{where}: a 'tags' column belongs to audience files; type a tag column as name:tags")
        if self.audience and (self.delete is not None or self.install_ids is not None):
            raise FileRejected(f"{where}: 'delete' and 'install_ids' columns belong to profile files (a deletion "
                               "names the person, user_id, and its install ids)")
        attribute_names = [c.name for c in self.attributes]
        duplicated = {n for n in attribute_names if attribute_names.count(n) > 1}
        duplicated |= {n for _, n, _, _ in self.edits if n in attribute_names}
        if duplicated:
            raise FileRejected(f"{where}: attribute {shown(sorted(duplicated)[0])} has more than one column")
        self._plan_fast()

    def _plan_fast(self) -> None:
        """The fast path's plan (`fast_record`): profile files without edit, delete or install_ids
        columns, whose attribute names are plainly printable; None for the others."""
        self.fast: list[tuple[int, str, str, int, Callable[[str, str], Any] | None]] | None = None
        if self.audience or self.edits or self.delete is not None or self.install_ids is not None:
            return
        if not all(column.name.isprintable() for column in self.attributes):
            return
        self.user_index = self.keys[0][0]
        self.fast = [(c.index, c.name, c.header, _FAST_KINDS.get(c.convert, _OTHER), c.convert) for c in self.attributes]

    def fast_record(self, row: list[str], limits: InputLimits = DEFAULT_LIMITS) -> tuple[dict[str, Any], Record] | None:
        """The row's record dict and its record, as `record` then `parse_record` make them, in one
        pass over the cells; None when unsure (then `record` and `parse_record` decide, and say why).
        tests/unit/test_csv_fast_path.py checks both give the same on generated rows."""
        if self.fast is None or len(row) != self.width:
            return None
        user_id = row[self.user_index]
        if not user_id or not user_id.isprintable():
            return None
        raw: dict[str, Any] = {"user_id": user_id}
        attributes: dict[str, Any] = {}
        ops: dict[str, Operation] = {}
        for index, name, header, kind, convert in self.fast:
            cell = row[index]
            if not cell:
                continue
            if cell == REMOVE_MARKER:
                attributes[name] = None
                ops[name] = REMOVE
                continue
            if kind == _STRING:
                if not cell.isprintable():
                    return None
                value = cell
                op = set_value(cell)
            elif kind == _INT:
                try:
                    value = int(cell)
                except ValueError:
                    return None
                if not INT_MIN <= value <= INT_MAX:
                    return None
                op = set_value(value)
            elif kind == _BOOL:
                lowered = cell.strip().lower()
                if lowered in _TRUE:
                    value = True
                elif lowered in _FALSE:
                    value = False
                else:
                    return None
                op = set_value(value)
            elif kind == _FLOAT and "." in cell:  # never an int(): _number reads it with float() alone
                try:
                    value = float(cell)
                except ValueError:
                    return None
                if value - value != 0.0:  # not finite
                    return None
                op = set_value(value)
            elif kind == _TAGS:
                value = _tags(cell)
                for tag in value:
                    if not tag.isprintable():
                        return None
                op = ReplaceTags(tuple(value))
            else:
                try:
                    value = convert(cell, header)
                except CellError:
                    return None
                op = fast_object(value) if kind == _DATE else fast_operation(value)
                if op is None:
                    return None
            attributes[name] = value
            ops[name] = op
        if len(ops) > limits.max_attributes_per_record:
            return None
        if attributes:
            raw["attributes"] = attributes
        overwrite = False
        if self.overwrite is not None and row[self.overwrite]:
            try:
                overwrite = raw["overwrite"] = _bool(row[self.overwrite], "overwrite")
            except CellError:
                return None
        destinations = None
        if self.destinations is not None and row[self.destinations]:
            listed = raw["destinations"] = _tags(row[self.destinations])
            if not listed or not all(value.isprintable() for value in listed):
                return None
            destinations = tuple(listed)
        return raw, built_change(user_id, ops, overwrite, destinations, set(raw))

    def row_dict(self, row: list[str]) -> dict[str, str]:
        """The row as written, {header: cell}: what a failed-record envelope shows for a row
        that could not become a record."""
        return dict(zip(self.header, row))

    def record(self, row: list[str]) -> dict[str, Any]:
        """One CSV row -> the record dict a JSON user would write. Raises CellError."""
        if len(row) != self.width:
            raise CellError(f"the row has {len(row)} fields, the header {self.width}", "row")
        record: dict[str, Any] = {name: row[index] for index, name in self.keys}
        attributes: dict[str, Any] = {}
        for column in self.attributes:
            cell = row[column.index]
            if not cell:
                continue  # an empty cell leaves the attribute unchanged
            if cell == REMOVE_MARKER:
                attributes[column.name] = None
                continue
            if column.convert is None:
                attributes[column.name] = cell
                continue
            try:
                attributes[column.name] = column.convert(cell, column.header)
            except CellError as error:
                error.field = f"attributes.{column.name}"
                raise
        for index, name, verb, written in self.edits:
            cell = row[index]
            if cell:
                if cell == REMOVE_MARKER:
                    raise CellError(f"{REMOVE_MARKER} cannot be used in an edit column ({written})",
                                    f"attributes.{name}")
                attributes.setdefault(name, {})[verb] = _tags(cell)
        if attributes:
            record["attributes"] = attributes
        if self.overwrite is not None and row[self.overwrite]:
            record["overwrite"] = _bool(row[self.overwrite], "overwrite")
        if self.destinations is not None and row[self.destinations]:
            record["destinations"] = _tags(row[self.destinations])
        if self.tags is not None and row[self.tags]:
            record["tags"] = _tags(row[self.tags])
        if self.delete is not None and row[self.delete] and _bool(row[self.delete], "delete"):
            record["delete"] = True
        if self.install_ids is not None and row[self.install_ids]:
            record["install_ids"] = _tags(row[self.install_ids])
        return record


def read_header(line: str, where: str) -> list[str]:
    """The header cells of a CSV file from its first line (BOM already removed)."""
    try:
        header = next(csv.reader([line]), [])
    except csv.Error as error:
        raise FileRejected(f"{where} line 1: {error}") from None
    CsvColumns(header, where)  # refuse a bad header before anything is read
    return header


# --- reading a chunk ------------------------------------------------------------------------

SourceAt = Callable[[int, int], Source]  # (line number, ordinal in the chunk) -> the record's source


def _parsed(raw: Any, source: Source, limits: InputLimits) -> SourcedRecord | Unparsable:
    try:
        return sourced(parse_record(raw, limits), raw, source)
    except InvalidRecord as error:
        return Unparsable(raw, source, error.reason, error.field)


def _decoded(decoded: Decoded, text: str, source: Source, limits: InputLimits) -> SourcedRecord | Unparsable:
    """A record holding a flaw is shown as it was written: `json` could not keep it as a value."""
    try:
        return sourced(parse_record(decoded.value, limits), decoded.value, source)
    except InvalidRecord as error:
        return Unparsable(text if decoded.flawed else decoded.value, source, error.reason, error.field)


def csv_records(text: str, columns: CsvColumns, first_line: int, source_at: SourceAt,
                limits: InputLimits = DEFAULT_LIMITS) -> Iterator[SourcedRecord | Unparsable]:
    """The rows of a CSV chunk (no header): each row's line is the line it starts on."""
    limit_csv_fields(limits)
    reader = csv.reader(io.StringIO(text, newline="\n"))  # only \n ends a line; \r\n stays one
    offset = first_line
    consumed = ordinal = 0
    record_of, fast_record = columns.record, columns.fast_record
    try:
        for row in reader:
            line = offset + consumed
            consumed = reader.line_num
            if not row:
                continue  # a blank line
            source = source_at(line, ordinal)
            ordinal += 1
            fast = fast_record(row, limits)
            if fast is not None:
                yield sourced(fast[1], fast[0], source)
                continue
            try:
                raw = record_of(row)
            except CellError as error:
                yield Unparsable(columns.row_dict(row), source, str(error), error.field)
                continue
            yield _parsed(raw, source, limits)
    except csv.Error as error:
        # The planner read the same bytes with the same reader: only a change of the object breaks here.
        raise FileRejected(f"line {offset + consumed}: {error}") from None


def jsonl_records(text: str, first_line: int, source_at: SourceAt,
                  limits: InputLimits = DEFAULT_LIMITS) -> Iterator[SourcedRecord | Unparsable]:
    """One record per line; blank lines are skipped; a line that is not JSON is rejected alone."""
    reader = StrictJson(limits.max_nesting_depth)
    ordinal = 0
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        source = source_at(number, ordinal)
        ordinal += 1
        line = line.rstrip("\r")
        try:
            decoded = reader.decode(line)
        except JsonSyntaxError as error:
            yield Unparsable(line, source, f"the line is not JSON: {error.message} (character {error.position + 1})")
            continue
        yield _decoded(decoded, line, source, limits)


def json_array_records(text: str, first_line: int, source_at: SourceAt,
                       limits: InputLimits = DEFAULT_LIMITS) -> Iterator[SourcedRecord | Unparsable]:
    """The elements of a chunk of a JSON array (elements and commas, no brackets)."""
    reader = StrictJson(limits.max_nesting_depth)
    line, counted_to = first_line, 0
    try:
        for ordinal, (start, end, decoded) in enumerate(reader.elements(text)):
            line += text.count("\n", counted_to, start)
            counted_to = start
            yield _decoded(decoded, text[start:end], source_at(line, ordinal), limits)
    except JsonSyntaxError as error:
        raise FileRejected(f"line {first_line + text.count(chr(10), 0, error.position)}: not valid JSON: "
                           f"{error.message}") from None


def oversized_record(preview: str, first_line: int, source_at: SourceAt,
                     limits: InputLimits = DEFAULT_LIMITS) -> Iterator[Unparsable]:
    """A line longer than MAX_RECORD_BYTES: never read whole, rejected with its first bytes."""
    yield Unparsable({"truncated": True, "prefix": preview}, source_at(first_line, 0),
                     f"the line is longer than {human_size(limits.max_record_bytes)} (MAX_RECORD_BYTES): it was not read; "
                     f"'record' holds its first {len(preview):,} characters")


def chunk_records(text: str, kind: str, *, first_line: int, source_at: SourceAt,
                  header: list[str] | None = None, limits: InputLimits = DEFAULT_LIMITS,
                  ) -> Iterator[SourcedRecord | Unparsable]:
    if kind == "csv":
        if header is None:
            raise ValueError("a CSV chunk needs the file's header")
        return csv_records(text, CsvColumns(header), first_line, source_at, limits)
    if kind == "jsonl":
        return jsonl_records(text, first_line, source_at, limits)
    if kind == "json":
        return json_array_records(text, first_line, source_at, limits)
    if kind == OVERSIZED:
        return oversized_record(text, first_line, source_at, limits)
    raise ValueError(f"unknown file kind {kind!r}")
