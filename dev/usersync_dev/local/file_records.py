"""The records of a file on this machine, read exactly as the file and chunk functions read it in S3:
the same streaming planner (usersync.ingest.planning) refuses a file that cannot be read as a whole
(type, encoding, header, gzip) and cuts it in chunks, and the same chunk reader
(usersync.parsing.files) turns each chunk into records with their line numbers.

    for item in file_records(Path("users.csv")):   # SourcedRecord | Unparsable, source.line set
        ...

Memory stays bounded by one chunk; a gzip file's chunks are decompressed once into a temporary folder.
"""

from __future__ import annotations

import gzip
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from usersync.ingest.planning import DEFAULT_ROWS_PER_CHUNK, FilePlan, plan_file
from usersync.parsing.files import FileFormat, FileRejected, chunk_records
from usersync.records import Source, SourcedRecord, Unparsable, s3_source


@dataclass
class LocalFile:
    """A planned local file: read its records with `records()` (once)."""
    path: Path
    plan: FilePlan
    _parts: tempfile.TemporaryDirectory | None = None

    @property
    def rows(self) -> int:
        return self.plan.rows

    def records(self) -> Iterator[SourcedRecord | Unparsable]:
        for read in self.chunk_items():
            yield from read()

    def chunk_items(self) -> Iterator[Callable[[], list[SourcedRecord | Unparsable]]]:
        """One reader per chunk (once, in order): it returns the chunk's items as one list, read as
        the chunk function reads them (usersync.work.deliver_chunk)."""
        key = str(self.path)

        def source_at(line: int, ordinal: int) -> Source:
            return s3_source(None, key, line, None, ordinal)

        try:
            with open(self.path, "rb") as raw:
                for chunk in self.plan.chunks:
                    if chunk.part:
                        data = Path(chunk.part).read_bytes()
                    else:
                        raw.seek(chunk.start)
                        data = raw.read(chunk.end - chunk.start)

                    def read(chunk=chunk, data=data) -> list[SourcedRecord | Unparsable]:
                        try:
                            text = data.decode("utf-8")
                        except UnicodeDecodeError as error:
                            raise FileRejected(f"{self.path.name}: not UTF-8 from line {chunk.first_line} "
                                               f"({error.reason}): was it changed while being read?") from None
                        return list(chunk_records(text, chunk.kind or self.plan.kind, first_line=chunk.first_line,
                                                  header=self.plan.header, source_at=source_at))
                    yield read
        finally:
            if self._parts is not None:
                self._parts.cleanup()


def plan_local_file(path: Path, *, rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK) -> LocalFile:
    """Plan `path` as the file function would; FileRejected says why a file cannot be read at all."""
    fmt = FileFormat.of_key(path.name)
    parts = tempfile.TemporaryDirectory(prefix="usersync-") if fmt.gzip else None

    def write_part(index: int, data: bytes) -> str:
        part = Path(parts.name) / f"{index:06d}.part"
        part.write_bytes(data)
        return str(part)

    try:
        with open(path, "rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if fmt.gzip else raw
            plan = plan_file(stream, fmt, path.name, rows_per_chunk=rows_per_chunk,
                             write_part=write_part if fmt.gzip else None, compressed_bytes=path.stat().st_size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        if parts is not None:
            parts.cleanup()
        raise FileRejected(f"{path.name} is not a valid gzip file ({error})") from None
    except BaseException:
        if parts is not None:
            parts.cleanup()
        raise
    return LocalFile(path, plan, parts)


def file_records(path: Path, *, rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK) -> Iterator[SourcedRecord | Unparsable]:
    """Every record of a local file with its line; raises FileRejected for a file that cannot be read."""
    return plan_local_file(path, rows_per_chunk=rows_per_chunk).records()
