"""Python's cyclic garbage collector, paused while a chunk or a batch of messages is parsed and delivered.

A chunk keeps its 10,000 records (and their dicts, tuples and operations) alive in one list until
it is done: every few hundred allocations the collector would scan them again, looking for cycles
that they do not form; it costs more than the parsing itself. Paused for one unit of work (bounded
by the chunk, or the SQS batch), then on again.

On again, the objects made during the pause are moved to the oldest generation unscanned
(gc.freeze, then gc.unfreeze): scanning them at once (the first collection after the pause would)
costs several µs a record, to find nothing: records, their sources and payloads are trees, freed
by reference counting when the unit is done. A cycle among them, if any, waits for the next full
collection instead of the next young one.
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
        gc.freeze()    # every tracked object to the permanent generation, young ones included...
        gc.unfreeze()  # ...and back, to the oldest one: the young were moved, not scanned
        gc.enable()
