"""In-memory fakes for the delivery domain: a destination that records its calls, a clock that
never sleeps for real (backoff delays are read off it, never measured)."""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

from usersync.delivery.outcomes import RecordRejected, SendResult
from usersync.delivery.settings import DeliverySettings
from usersync.parsing.messages import records_in_message
from usersync.records import UserChange


class FakeClock:
    """Monotonic time that moves only when someone sleeps: `sleeps` lists every wait asked for."""

    def __init__(self):
        self.t = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += max(0.0, seconds)


class FakeDestination:
    """Records every call (with the fake clock's time); answers with the outcomes queued in
    `answers` (default: success), or with `answer(payloads)` when set."""
    vendor: ClassVar[str] = "fake"
    record_type: ClassVar[type] = UserChange

    def __init__(self, name, batch_size=3, concurrency=2, reject_names=(), clock=None, **settings):
        self.name, self.batch_size, self.concurrency = name, batch_size, concurrency
        self.settings = DeliverySettings(concurrency=concurrency, **{"timeout_s": 1.0, **settings})
        self.calls: list[list[Any]] = []
        self.call_times: list[float] = []
        self.answers: list[Any] = []
        self.answer = None
        self.reject_names = reject_names
        self.clock = clock
        self._lock = threading.Lock()

    def prepare(self, record):
        for name in record.attributes:
            if name in self.reject_names:
                raise RecordRejected("VENDOR_RULE", f"{name} not allowed", f"attributes.{name}")
        return {"id": record.user_id, **{k: _plain(op) for k, op in record.attributes.items()}}

    def prepare_steps(self, record):
        return [self.prepare(record)]

    def key(self, record):
        return record.user_id

    def send(self, payloads):
        with self._lock:
            self.calls.append(payloads)
            self.call_times.append(self.clock.now() if self.clock else 0.0)
            if self.answer is not None:
                answer = self.answer(payloads)
            else:
                answer = self.answers.pop(0) if self.answers else SendResult(token=f"t{len(self.calls)}")
        if isinstance(answer, Exception):
            raise answer
        return answer


def _plain(op):
    """An operation as a comparable value: what tests assert on."""
    from usersync.records import EditTags, Increment, Remove, ReplaceTags, SetValue

    if isinstance(op, SetValue):
        return op.value
    if isinstance(op, Remove):
        return None
    if isinstance(op, Increment):
        return {"$decr" if op.decrement else "$incr": op.by}
    if isinstance(op, ReplaceTags):
        return list(op.values)
    if isinstance(op, EditTags):
        return {"$add": list(op.add), "$remove": list(op.remove)}
    return repr(op)


def items(*records, message_id="m"):
    return list(records_in_message(message_id, json.dumps(list(records))))


def user(uid, n=0, **extra):
    return {"user_id": uid, "attributes": {"n": n}, **extra}
