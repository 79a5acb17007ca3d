"""The delivery ledger in the pipeline (in memory): a retried or duplicated unit never resends what a
vendor accepted, and an increment whose call went unanswered is never sent twice."""

import pytest

from delivery_fakes import FakeClock, FakeDestination, items, user

from usersync.delivery.ledger import Entry, InMemoryLedger, decode_positions, encode_positions
from usersync.delivery.outcomes import RecordRejected, SendResult, VendorUnavailable
from usersync.failures import FailureCode
from usersync.delivery.pipeline import DeliveryOptions, deliver
from usersync.delivery.service import settled_entries


def incr(uid, by=1):
    return {"user_id": uid, "attributes": {"points": {"$incr": by}}}


def run(records, dest, ledger, message_id="m1", owner="invocation-1"):
    return deliver(items(*records, message_id=message_id), {dest.name: dest},
                   DeliveryOptions(ledger=ledger, clock=FakeClock(), owner=owner))


def test_positions_are_stored_as_ranges():
    assert encode_positions([5, 0, 1, 2, 9, 10, 3]) == "0-3,5,9-10"
    assert decode_positions("0-3,5,9-10") == {0, 1, 2, 3, 5, 9, 10}
    assert encode_positions([]) == "" and decode_positions("") == set()


def test_batch_ids_are_deterministic_and_name_unit_destination_and_positions():
    entry = Entry("sqs:m1", "a", (0, 1, 2))
    assert entry.batch_id == Entry("sqs:m1", "a", (0, 1, 2)).batch_id
    assert len({entry.batch_id, Entry("sqs:m2", "a", (0, 1, 2)).batch_id, Entry("sqs:m1", "b", (0, 1, 2)).batch_id,
                Entry("sqs:m1", "a", (0, 1)).batch_id}) == 4
    assert entry.element == f"{entry.batch_id}:0-2"


def test_a_duplicated_message_is_delivered_once():
    ledger, dest = InMemoryLedger(), FakeDestination("a", batch_size=2)
    records = [user(f"u{i}") for i in range(5)]
    first = run(records, dest, ledger)
    second = run(records, dest, ledger, owner="invocation-2")
    assert first.delivered == {"a": 5} and len(dest.calls) == 3
    assert second.delivered == {} and second.already_delivered == 5 and len(dest.calls) == 3


def test_a_retry_resends_only_what_was_not_accepted():
    ledger, dest = InMemoryLedger(), FakeDestination("a", batch_size=2, concurrency=1, max_attempts=1)
    dest.answers = [SendResult(token="t1"), VendorUnavailable("HTTP 503", status=503)]
    first = run([user(f"u{i}") for i in range(4)], dest, ledger)
    assert first.delivered == {"a": 2} and len(first.retries) == 2
    second = run([user(f"u{i}") for i in range(4)], dest, ledger, owner="invocation-2")
    assert dest.calls[-1] == [{"id": "u2", "n": 0}, {"id": "u3", "n": 0}]
    assert second.delivered == {"a": 2} and second.already_delivered == 2


def test_the_same_unit_in_another_lambda_batch_still_skips_its_accepted_records():
    """Batch ids come from the unit and positions, not from the invocation's batch."""
    ledger, dest = InMemoryLedger(), FakeDestination("a", batch_size=10)
    run([user("u0"), user("u1")], dest, ledger, message_id="m1")
    mixed = items(user("x0"), message_id="m0") + items(user("u0"), user("u1"), message_id="m1")
    report = deliver(mixed, {"a": dest}, DeliveryOptions(ledger=ledger, clock=FakeClock(), owner="i2"))
    assert dest.calls[-1] == [{"id": "x0", "n": 0}] and report.already_delivered == 2


def test_a_lost_response_after_an_applied_increment_never_sends_it_again():
    ledger, dest = InMemoryLedger(), FakeDestination("a", batch_size=10)
    dest.answers = [VendorUnavailable("ReadTimeout")]  # the vendor may have applied it
    records = [incr("alan", 10), user("bob")]
    first = run(records, dest, ledger)
    # the increment is failed as uncertain, bob's set is resent at once (it is harmless twice)
    assert [p["id"] for p in dest.calls[0]] == ["alan", "bob"] and dest.calls[1] == [{"id": "bob", "n": 0}]
    [failure] = first.failed
    assert failure.code == FailureCode.DELIVERY_UNCERTAIN and failure.retryable and failure.raw == incr("alan", 10)
    assert "check the user" in failure.message
    assert first.delivered == {"a": 1} and not first.retries

    second = run(records, dest, ledger, owner="invocation-2")  # SQS delivers the message again
    assert len(dest.calls) == 2  # nothing sent
    assert [f.code for f in second.failed] == [FailureCode.DELIVERY_UNCERTAIN] and second.already_delivered == 1

    ledger.update(settled=settled_entries(second.failed))  # what the service does once it is in the queue
    third = run(records, dest, ledger, owner="invocation-3")
    assert not third.failed and third.already_reported == 1 and len(dest.calls) == 2


def test_an_increment_turned_away_with_429_or_503_is_retried():
    ledger, dest = InMemoryLedger(), FakeDestination("a")
    dest.answers = [VendorUnavailable("HTTP 429", status=429), VendorUnavailable("HTTP 503", status=503)]
    report = run([incr("alan")], dest, ledger)
    assert report.delivered == {"a": 1} and len(dest.calls) == 3 and not report.failed
    assert run([incr("alan")], dest, ledger, owner="i2").already_delivered == 1


def test_increments_of_a_message_another_invocation_is_sending_wait_for_a_retry():
    ledger, dest = InMemoryLedger(), FakeDestination("a")
    ledger.claim([("sqs:m1", "a")], "invocation-1", until_epoch=float("inf"))
    report = run([incr("alan")], dest, ledger, owner="invocation-2")
    assert not dest.calls and len(report.retries) == 1 and "another invocation" in report.retries[0].reason


def test_claims_are_released_when_the_run_ends():
    ledger, dest = InMemoryLedger(), FakeDestination("a")
    run([incr("alan")], dest, ledger, message_id="m1", owner="invocation-1")
    assert ledger.claim([("sqs:m1", "a")], "invocation-2", until_epoch=1e12)[("sqs:m1", "a")] is not None


def test_records_rejected_inside_an_accepted_call_are_not_marked_delivered():
    ledger, dest = InMemoryLedger(), FakeDestination("a")
    dest.answers = [SendResult(rejected={0: RecordRejected("VENDOR_REJECTED", "bad", vendor_code=516)})]
    run([user("u0"), user("u1")], dest, ledger)
    assert ledger.read([("sqs:m1", "a")])[("sqs:m1", "a")].accepted == {1}


def test_without_increments_nothing_is_claimed():
    ledger, dest = InMemoryLedger(), FakeDestination("a")
    run([user("u0")], dest, ledger)
    assert ledger.writes == 1  # the accepted entry only


class SlowLedger(InMemoryLedger):
    """Accepted writes take a while (and may fail)."""

    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail

    def accept(self, accepted, **changes):
        import time

        time.sleep(0.05)
        if self.fail:
            raise RuntimeError("DynamoDB is down")
        super().accept(accepted, **changes)


def test_every_accepted_entry_is_in_the_ledger_when_deliver_returns():
    ledger, dest = SlowLedger(), FakeDestination("a", batch_size=2, concurrency=2)
    records = [user(f"u{i}") for i in range(6)] + [incr("v0")]
    first = run(records, dest, ledger)
    assert first.delivered == {"a": 7}
    progress = ledger.read([("sqs:m1", "a")])[("sqs:m1", "a")]
    assert progress.accepted == set(range(7)) and progress.uncertain == set()


def test_a_failed_accepted_write_fails_the_run():
    ledger, dest = SlowLedger(fail=True), FakeDestination("a", batch_size=2)
    with pytest.raises(RuntimeError, match="DynamoDB is down"):
        run([user(f"u{i}") for i in range(4)], dest, ledger)


def test_a_worker_sends_its_next_call_while_the_last_ones_ledger_write_lands():
    """An accepted call's ledger write does not hold the worker (a write takes a fifth of a 50 ms
    call against DynamoDB): with one call in flight at a time, the second call leaves before the
    first call's write has landed. The run still ends with every write landed."""
    import threading

    second_call_sent = threading.Event()

    class WaitsForTheSecondCall(InMemoryLedger):
        def accept(self, accepted, **changes):
            if not second_call_sent.wait(timeout=5):
                raise AssertionError("the worker waited for this write before sending its next call")
            super().accept(accepted, **changes)

    class SignalsItsCalls(FakeDestination):
        def send(self, payloads):
            if self.calls:
                second_call_sent.set()
            return super().send(payloads)

    ledger, dest = WaitsForTheSecondCall(), SignalsItsCalls("a", batch_size=1, concurrency=1)
    report = run([user("u0"), user("u1")], dest, ledger)
    assert report.delivered == {"a": 2} and len(dest.calls) == 2
    assert ledger.read([("sqs:m1", "a")])[("sqs:m1", "a")].accepted == {0, 1}


def test_an_increment_resent_alone_keeps_its_pending_mark_whatever_the_earlier_calls_write_does():
    """A coalesced change the vendor refuses is split back; its increment goes again, alone, under the
    same pending entry. The refused call's write (clearing that entry) must land before the resend
    marks it, or a late write erases the mark of a call the vendor applied: after a crash, the retry
    would send the increment a second time."""
    from usersync.delivery.checkpoints import Checkpoints

    class Crash(Exception):
        pass

    accepted = []

    def die_at_the_second_acceptance(point):
        if point == "vendor_accepted":
            accepted.append(point)
            if len(accepted) == 2:
                raise Crash("the invocation died with the resent increment applied, nothing written")

    ledger, dest = SlowLedger(), FakeDestination("a", batch_size=10)
    dest.answer = lambda payloads: SendResult(token="t", rejected={
        i: RecordRejected("VENDOR_REJECTED", "bad phone", vendor_code=516)
        for i, p in enumerate(payloads) if p.get("phone") == "bad"})
    records = [incr("u1"), {"user_id": "u1", "attributes": {"phone": "bad"}}]
    checkpoints = Checkpoints()
    checkpoints.hook = die_at_the_second_acceptance
    with pytest.raises(Crash):
        deliver(items(*records, message_id="m1"), {"a": dest},
                DeliveryOptions(ledger=ledger, clock=FakeClock(), owner="invocation-1", checkpoints=checkpoints))
    assert dest.calls[1] == [{"id": "u1", "points": {"$incr": 1}}]  # applied by the vendor

    retry = run(records, dest, ledger, owner="invocation-2")  # SQS delivers the message again
    assert all("points" not in payload for call in dest.calls[2:] for payload in call), "increment sent twice"
    assert [f.code for f in retry.failed if f.raw == incr("u1")] == [FailureCode.DELIVERY_UNCERTAIN]
