"""How much input usersync takes in one piece: the limits that keep a hostile or broken input
from holding a function's memory or time. Each is a setting of the functions (usersync.settings,
environment variable in parentheses); docs/files.md#limits says what happens past each one.

The defaults are here, once; settings, parsing and planning all read them from an InputLimits.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

DEFAULT_MAX_RECORD_BYTES = 1 * MiB            # a JSON Lines line, a JSON array element, a CSV row
DEFAULT_MAX_RECORDS_PER_MESSAGE = 10_000      # = Batch's bulk limit: one message, at most one bulk call
DEFAULT_MAX_ATTRIBUTES_PER_RECORD = 1_000     # CleverTap keeps 256 custom properties; Batch states none
DEFAULT_MAX_NESTING_DEPTH = 16                # a record needs 4 (record, attributes, {"$add": [...]})
DEFAULT_MAX_FILE_BYTES = 4 * 1024 * MiB       # a file's content after decompression: ~4 min of the file pass
DEFAULT_MAX_INFLATION_RATIO = 100             # real exports compress 5-20 times; bombs 1,000 times
# Below this much content a gzip file is never refused for its ratio: small files are harmless
# whatever they compress to.
INFLATION_CHECKED_AFTER_BYTES = 16 * MiB


@dataclass(frozen=True, slots=True)
class InputLimits:
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_records_per_message: int = DEFAULT_MAX_RECORDS_PER_MESSAGE
    max_attributes_per_record: int = DEFAULT_MAX_ATTRIBUTES_PER_RECORD
    max_nesting_depth: int = DEFAULT_MAX_NESTING_DEPTH
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_inflation_ratio: int = DEFAULT_MAX_INFLATION_RATIO

    def max_content_bytes(self, compressed_bytes: int | None) -> int:
        """The most content a file may inflate to: MAX_FILE_BYTES, and for a compressed file of
        `compressed_bytes`, MAX_INFLATION_RATIO times that (past INFLATION_CHECKED_AFTER_BYTES)."""
        if compressed_bytes is None:
            return self.max_file_bytes
        by_ratio = max(self.max_inflation_ratio * compressed_bytes, INFLATION_CHECKED_AFTER_BYTES)
        return min(self.max_file_bytes, by_ratio)


DEFAULT_LIMITS = InputLimits()


def human_size(n: int) -> str:
    """A byte count for messages: `1 MiB`, `300 KiB`, `4,096 bytes`."""
    for unit, factor in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor:,} {unit}"
    return f"{n:,} bytes"
