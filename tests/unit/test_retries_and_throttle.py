"""Backoff, deadlines and the adaptive throttle, on a fake clock: delays and calls are counted, never timed."""

import random

from delivery_fakes import FakeClock, FakeDestination, items, user

from usersync.delivery.outcomes import RecordRejected, SendResult, VendorRejected, VendorUnavailable
from usersync.delivery.pipeline import DeliveryOptions, deliver
from usersync.delivery.retries import Backoff, Deadline, may_have_applied
from usersync.delivery.throttle import MIN_RATE_PER_S, RECOVERY_STEPS, RecordPacing, Throttle, Throttles, TokenBucket


# --- backoff ----------------------------------------------------------------------------------


def test_full_jitter_stays_under_an_exponential_ceiling_capped_at_max():
    backoff, rng = Backoff(base_s=0.5, max_s=4.0), random.Random(7)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = [backoff.delay(attempt, None, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread over the whole range


def test_retry_after_is_a_floor():
    assert Backoff(base_s=0.5, max_s=4.0).delay(0, 7.0, random.Random(1)) == 7.0


def test_only_429_and_503_say_the_call_was_not_applied():
    assert not may_have_applied(VendorUnavailable("x", status=429))
    assert not may_have_applied(VendorUnavailable("x", status=503))
    assert may_have_applied(VendorUnavailable("x", status=500))
    assert may_have_applied(VendorUnavailable("timeout"))
    assert not may_have_applied(VendorUnavailable("refused", maybe_applied=False))


def test_a_4xx_is_never_retried():
    dest = FakeDestination("a", batch_size=10)
    dest.answers = [VendorRejected(403, "API_MISUSE", "no")]
    report = deliver(items(user("u1")), {"a": dest}, DeliveryOptions(clock=FakeClock()))
    assert len(dest.calls) == 1 and [f.vendor_status for f in report.failed] == [403]


def test_the_delays_between_attempts_are_the_backoffs_and_honour_retry_after():
    clock = FakeClock()
    dest = FakeDestination("a", max_attempts=4, backoff_base_s=1, backoff_max_s=8)
    dest.answers = [VendorUnavailable("HTTP 429", status=429, retry_after_s=30)] + \
                   [VendorUnavailable("HTTP 500", status=500)] * 2
    report = deliver(items(user("u1")), {"a": dest}, DeliveryOptions(clock=clock, deadline=Deadline(1000, clock)))
    assert report.delivered == {"a": 1} and len(dest.calls) == 4
    assert clock.sleeps[0] >= 30  # Retry-After (the throttle's pause and the backoff agree)
    assert all(0 <= d <= cap for d, cap in zip(clock.sleeps[1:], [2, 4]))


# --- the deadline -----------------------------------------------------------------------------


def test_no_call_starts_when_its_timeout_does_not_fit_before_the_deadline():
    clock = FakeClock()
    dest = FakeDestination("a", timeout_s=10)
    report = deliver(items(user("u1")), {"a": dest}, DeliveryOptions(clock=clock, deadline=Deadline(12, clock)))
    assert not dest.calls and len(report.retries) == 1  # 12 s less the reserve (2.4 s) < 10 s


def test_retries_stop_when_time_runs_short_and_the_work_goes_back_to_sqs():
    clock = FakeClock()
    dest = FakeDestination("a", timeout_s=5, max_attempts=20, backoff_base_s=2, backoff_max_s=2)
    dest.answer = lambda payloads: clock.sleep(5) or VendorUnavailable("read timeout")  # hangs until its timeout
    report = deliver(items(user("u1"), user("u2")), {"a": dest},
                     DeliveryOptions(clock=clock, deadline=Deadline(30, clock), rng=random.Random(3)))
    assert 2 <= len(dest.calls) <= 4  # (30 - 5 reserve) / (5 s timeout + up to 2 s backoff)
    assert clock.t <= 30 - 5  # the reserve is kept for what follows
    assert sorted(r.item.record.user_id for r in report.retries) == ["u1", "u2"] and not report.failed
    assert "no time left" in report.retries[0].reason


def test_deadline_from_a_lambda_context():
    class Context:
        def get_remaining_time_in_millis(self):
            return 60_000

    clock = FakeClock()
    deadline = Deadline.from_context(Context(), clock)
    assert deadline.remaining() == 55  # the reserve is 5 s at most
    clock.sleep(50)
    assert deadline.allows(5) and not deadline.allows(5.1)


# --- the throttle -----------------------------------------------------------------------------


def test_a_429_halves_concurrency_and_rate_once_per_episode_then_successes_win_them_back():
    clock = FakeClock()
    throttle = Throttle(concurrency=8, rate_per_s=40, clock=clock)
    deadline = Deadline(1000, clock)
    permits = [throttle.acquire(deadline) for _ in range(4)]  # four calls in flight
    for permit in permits:  # ... all answered 429: one episode, one halving
        throttle.release(permit, throttled=True)
    assert (throttle.limit, throttle.rate, throttle.decreases) == (4, 20, 1)
    throttle.release(throttle.acquire(deadline), throttled=True)  # a call started after it: a new episode
    assert (throttle.limit, throttle.rate, throttle.decreases) == (2, 10, 2)
    for _ in range(3 * RECOVERY_STEPS):
        throttle.release(throttle.acquire(deadline))
    assert throttle.rate == 40 and throttle.limit > 4


def test_the_rate_never_falls_under_its_floor():
    clock = FakeClock()
    throttle = Throttle(concurrency=1, rate_per_s=2, clock=clock)
    deadline = Deadline(10_000, clock)
    for _ in range(10):
        throttle.release(throttle.acquire(deadline), throttled=True)
    assert throttle.rate == MIN_RATE_PER_S and throttle.limit == 1


def test_the_rate_spaces_call_starts():
    clock = FakeClock()
    throttle = Throttle(concurrency=4, rate_per_s=5, clock=clock)
    deadline = Deadline(1000, clock)
    starts = []
    for _ in range(6):
        permit = throttle.acquire(deadline)
        starts.append(permit.started)
        throttle.release(permit)
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:])] == [0.2] * 5


def test_retry_after_pauses_every_new_call():
    clock = FakeClock()
    throttle = Throttle(concurrency=4, clock=clock)
    deadline = Deadline(1000, clock)
    throttle.release(throttle.acquire(deadline), throttled=True, retry_after_s=3)
    assert throttle.acquire(deadline).started == 3


def test_an_unpaced_destination_gets_a_rate_from_what_it_was_doing_when_throttled():
    clock = FakeClock()
    throttle = Throttle(concurrency=10, clock=clock)
    deadline = Deadline(1000, clock)
    permits = [throttle.acquire(deadline) for _ in range(10)]  # 10 calls in the same second
    throttle.release(permits[0], throttled=True)
    assert throttle.rate == 5 and throttle.limit == 5
    for permit in permits[1:]:
        throttle.release(permit)
    for _ in range(2 * RECOVERY_STEPS):
        throttle.release(throttle.acquire(deadline))
    assert throttle.rate is None  # recovered: unpaced again


def test_a_throttle_waits_for_a_free_slot_or_gives_up_at_the_deadline():
    clock = FakeClock()
    throttle = Throttle(concurrency=1, clock=clock)
    held = throttle.acquire(Deadline(100, clock))
    assert held is not None
    assert throttle.acquire(Deadline(0.5, clock, reserve_s=0), needs_s=1) is None


def test_throttles_are_kept_per_destination_until_its_settings_change():
    throttles = Throttles()
    first = throttles.get("a", 2, None)
    assert throttles.get("a", 2, None) is first
    assert throttles.get("a", 3, None) is not first


def test_a_429_storm_slows_delivery_instead_of_failing_it():
    """Many calls, a vendor answering 429 to a third of them: everything is delivered, and calls
    per (fake) second fall once the storm starts."""
    clock = FakeClock()
    dest = FakeDestination("a", batch_size=1, concurrency=1, rate_per_s=20, max_attempts=10,
                           backoff_base_s=0.05, backoff_max_s=0.5, clock=clock)
    calls = {"n": 0}

    def answer(payloads):
        calls["n"] += 1
        clock.sleep(0.01)  # the vendor's latency
        in_storm = 20 <= calls["n"] <= 80 and calls["n"] % 3 == 0
        return VendorUnavailable("HTTP 429", status=429) if in_storm else SendResult(token="ok")

    dest.answer = answer
    throttles = Throttles(clock)
    report = deliver(items(*(user(f"u{i}") for i in range(100))), {"a": dest},
                     DeliveryOptions(clock=clock, throttles=throttles, deadline=Deadline(10_000, clock),
                                     rng=random.Random(1)))
    assert report.delivered == {"a": 100} and not report.retries and not report.failed
    assert throttles.get("a", 1, 20).decreases >= 3

    def calls_per_second(first, last):
        times = dest.call_times[first:last]
        return (len(times) - 1) / (times[-1] - times[0])

    assert calls_per_second(0, 19) > 2 * calls_per_second(20, 80)


def test_a_record_the_destination_cannot_map_is_not_retried():
    dest = FakeDestination("a", reject_names=("n",))
    report = deliver(items(user("u1")), {"a": dest}, DeliveryOptions(clock=FakeClock()))
    assert not dest.calls and [f.code for f in report.failed] == ["VENDOR_RULE"]
    assert isinstance(RecordRejected("X", "y"), Exception)


def test_a_request_that_never_left_was_not_applied():
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

    from usersync.delivery.retries import may_have_reached_vendor

    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))
    dropped = requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))
    assert not may_have_reached_vendor(refused) and not may_have_reached_vendor(requests.ConnectTimeout())
    assert may_have_reached_vendor(dropped) and may_have_reached_vendor(requests.ReadTimeout())


# --- records per second (a vendor that meters records: Batch's Profile API) ---------------------


def test_a_token_bucket_lets_a_burst_go_then_paces_records_at_its_rate():
    clock = FakeClock()
    bucket = TokenBucket(per_s=100, burst=200, clock=clock)
    deadline = Deadline(1000, clock)
    assert bucket.take(200, deadline) and clock.sleeps == []  # the burst, at once
    assert bucket.take(50, deadline) and clock.t == 0.5        # then 50 records take half a second


def test_a_call_larger_than_the_bucket_waits_for_it_full_and_leaves_a_debt():
    clock = FakeClock()
    bucket = TokenBucket(per_s=1_000, burst=1_000, clock=clock)
    deadline = Deadline(1000, clock)
    assert bucket.take(5_000, deadline) and clock.t == 0      # full bucket: the whole call goes
    assert bucket.take(1, deadline) and clock.t == 4.001      # 4,000 owed, then the next record


def test_a_token_bucket_gives_up_when_the_wait_does_not_fit_before_the_deadline_and_takes_nothing():
    clock = FakeClock()
    bucket = TokenBucket(per_s=10, burst=10, clock=clock)
    assert bucket.take(10, Deadline(100, clock))
    assert not bucket.take(10, Deadline(2, clock, reserve_s=0), needs_s=1.5)  # 1 s wait + 1.5 s call > 2 s
    assert clock.sleeps == [] and bucket.take(10, Deadline(100, clock)) and clock.t == 1


def test_a_paused_bucket_starts_nothing_until_the_pause_ends_then_starts_empty():
    clock = FakeClock()
    bucket = TokenBucket(per_s=10, burst=100, clock=clock)
    bucket.pause(5)
    assert bucket.take(10, Deadline(100, clock)) and clock.t == 6  # 5 s paused, then 1 s to fill 10


def test_destinations_with_the_same_pacing_key_share_one_bucket():
    throttles = Throttles(FakeClock())
    first = throttles.bucket(RecordPacing("project:update", 60, 200))
    assert throttles.bucket(RecordPacing("project:update", 60, 200)) is first
    assert throttles.bucket(RecordPacing("other:update", 60, 200)) is not first
    assert throttles.bucket(RecordPacing("project:update", 30, 100)) is first and (first.per_s, first.burst) == (30, 100)


def test_record_pacing_spaces_calls_by_the_records_they_carry_and_a_429_pauses_them():
    clock = FakeClock()
    dest = FakeDestination("a", batch_size=100, concurrency=1, clock=clock)
    dest.record_pacing = RecordPacing("a", per_s=100, burst=100)
    dest.answers = [SendResult(), VendorUnavailable("HTTP 429", status=429, retry_after_s=5)]
    report = deliver(items(*(user(f"u{i}") for i in range(300))), {"a": dest},
                     DeliveryOptions(clock=clock, throttles=Throttles(clock), deadline=Deadline(10_000, clock),
                                     rng=random.Random(1)))
    assert report.delivered == {"a": 300}
    assert [len(c) for c in dest.calls] == [100, 100, 100, 100]  # the second call was answered 429
    # 100 at once, 100 a second later; the 429's 5 s pause, the bucket empty after it, 1 s to refill
    assert dest.call_times[:2] == [0, 1] and dest.call_times[2] >= 7 and dest.call_times[3] >= dest.call_times[2] + 1


def test_records_that_cannot_be_paced_before_the_deadline_go_back_to_sqs_without_a_call():
    clock = FakeClock()
    dest = FakeDestination("a", batch_size=10, concurrency=1, clock=clock)
    dest.record_pacing = RecordPacing("a", per_s=1, burst=10)
    throttles = Throttles(clock)
    deliver(items(*(user(f"first{i}") for i in range(10))), {"a": dest},  # the burst, spent
            DeliveryOptions(clock=clock, throttles=throttles, deadline=Deadline(100, clock)))
    report = deliver(items(*(user(f"u{i}") for i in range(10))), {"a": dest},
                     DeliveryOptions(clock=clock, throttles=throttles, deadline=Deadline(5, clock, reserve_s=0)))
    assert len(dest.calls) == 1 and len(report.retries) == 10 and not report.failed  # 10 s of pacing > 5 s left


def test_a_slot_given_back_unused_teaches_the_throttle_nothing():
    clock = FakeClock()
    throttle = Throttle(concurrency=4, clock=clock)
    deadline = Deadline(1000, clock)
    throttle.release(throttle.acquire(deadline), throttled=True)
    throttle.release(throttle.acquire(deadline), sent=False)
    assert throttle.limit == 2 and throttle.in_flight == 0
