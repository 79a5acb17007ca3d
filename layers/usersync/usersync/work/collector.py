"""Python's cyclic garbage collector, paused while a chunk or a batch of messages is parsed and delivered.

A chunk keeps its 10,000 records (and their dicts, tuples and operations) alive in one list until
it is done: every few hundred allocations the collector would scan them again, looking for cycles
that they do not form; it costs more than the parsing itself. Paused for one unit of work (bounded
by the chunk, or the SQS batch), then on again: its first pass scans what the unit made once, and
finds the cycles it left (a traceback and its frames, a thread pool). Moving the unit's objects to
the oldest generation unscanned instead (gc.freeze, gc.unfreeze) saved under 5 % and starved the
full collections: a warm instance grew by every invocation's cycles until it was killed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    if not gc.isenabled():  # nested, or paused by someone else: theirs to turn on again
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
