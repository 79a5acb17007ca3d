"""Per-destination metrics (Powertools EMF): records delivered, rejected, retried, calls and latency."""

import json

from delivery_fakes import FakeClock, FakeDestination, items, user

from usersync.delivery.outcomes import RecordRejected, SendResult, VendorUnavailable
from usersync.delivery.pipeline import DeliveryOptions, deliver
from usersync.delivery.service import _count_per_destination


def test_each_destination_gets_its_own_metrics_with_a_latency_per_call(capsys, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    a, b = FakeDestination("a", batch_size=2, concurrency=1, max_attempts=1), FakeDestination("b", batch_size=10)
    a.answers = [SendResult(token="t", rejected={0: RecordRejected("VENDOR_REJECTED", "bad")}),
                 VendorUnavailable("HTTP 429", status=429)]
    report = deliver(items(user("u1"), user("u2"), user("u3")), {"a": a, "b": b}, DeliveryOptions(clock=FakeClock()))
    capsys.readouterr()

    _count_per_destination(report)

    blobs = {blob["destination"]: blob for blob in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(blobs) == {"a", "b"}

    def value(blob, name):
        found = blob[name]
        return sum(found) if isinstance(found, list) else found

    a_blob = blobs["a"]
    [directive] = a_blob["_aws"]["CloudWatchMetrics"]
    assert any("destination" in dimensions for dimensions in directive["Dimensions"]) and directive["Namespace"]
    assert [value(a_blob, n) for n in ("RecordsDelivered", "RecordsRejected", "RecordsRetried")] == [1, 1, 1]
    assert [value(a_blob, n) for n in ("VendorCalls", "VendorCallsThrottled")] == [2, 1]
    assert value(blobs["b"], "RecordsDelivered") == 3 and value(blobs["b"], "VendorCalls") == 1
    latencies = a_blob["VendorLatency"]
    assert len(latencies if isinstance(latencies, list) else [latencies]) == 2  # one value per call
