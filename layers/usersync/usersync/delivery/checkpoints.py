"""Named points between the steps of delivery, where a real invocation can stop (a timeout, an out
of memory, a lost instance). In production they do nothing; the crash tests set `hook` on a
function's checkpoints to stop the process right there and check that what happens next loses
nothing (usersync_dev.local.crash)."""

from __future__ import annotations

from collections.abc import Callable

# Every point, in the order a record meets them.
POINTS = (
    "before_call",            # execute: a call is about to be sent (each attempt)
    "vendor_accepted",        # settle: the vendor took a call; nothing of it is written yet
    "accepted_written",       # settle: its ledger marks and token are written (maybe after its follow-ups left)
    "before_failed_records",  # the run's failures are about to go to the failed-records queue
    "before_settled_marks",   # they are in the queue; the ledger does not know yet
    "before_batch_response",  # deliver function: the partial batch response is about to be returned
    "between_chunk_enqueues", # file function: some chunk jobs of a file are queued, not all
    "before_chunk_counted",   # chunk function: delivered, not yet counted into its job
)


class Checkpoints:
    """One per function instance (usersync.wiring), shared by the steps of its work."""

    def __init__(self) -> None:
        self.hook: Callable[[str], None] | None = None

    def reach(self, name: str) -> None:
        if self.hook is not None:
            self.hook(name)
