"""Stopping a function's invocation at a named point between two steps (usersync.delivery.checkpoints),
the way a timeout or a lost instance would, to test that what happens next loses nothing.

    crash = crash_at(sandbox, "deliver", "vendor_accepted")   # the first time that point is reached
    sandbox.deliver_pump().drain()                             # that invocation dies; SQS redelivers
    assert crash.fired

Once fired, every later checkpoint of that invocation raises too (a dead process takes no more
steps); the next invocation runs normally. The crash is an exception the runtime never catches,
so the handler fails as a crashed Lambda would: SQS delivers its messages again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from usersync.delivery.checkpoints import POINTS, Checkpoints


class SimulatedCrash(Exception):
    """The invocation stopped here."""


@dataclass
class CrashAt:
    point: str
    skip: int = 0          # times the point is passed before the crash
    fired: bool = False
    reached: list[str] = field(default_factory=list)
    _dead: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.point not in POINTS:
            raise ValueError(f"unknown checkpoint {self.point!r}: {', '.join(POINTS)}")

    def __call__(self, name: str) -> None:
        with self._lock:
            self.reached.append(name)
            if self._dead:
                raise SimulatedCrash(f"the invocation died at {self.point}")
            if name != self.point or self.fired:
                return
            if self.skip:
                self.skip -= 1
                return
            self.fired = self._dead = True
        raise SimulatedCrash(f"the invocation died at {self.point}")

    def invocation_ended(self) -> None:
        """The next invocation is a new process: alive."""
        with self._lock:
            self._dead = False


def checkpoints_of(module: Any) -> Checkpoints:
    """The checkpoints of a loaded function (functions/<name>/app.py): its service holds them."""
    for value in vars(module).values():
        found = getattr(value, "checkpoints", None)
        if isinstance(found, Checkpoints):
            return found
    raise LookupError(f"{module.__name__} has no service with checkpoints")


def crash_at(sandbox: Any, function: str, point: str, skip: int = 0) -> CrashAt:
    """Arm `point` in `function` (loaded in `sandbox`): its next invocation that reaches it dies there."""
    crash = CrashAt(point, skip)
    module = sandbox.function(function)
    checkpoints_of(module).hook = crash
    handler = module.handler

    def invoke(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:  # every thread of the invocation has ended: its pools were joined
            crash.invocation_ended()

    module.handler = invoke
    return crash
