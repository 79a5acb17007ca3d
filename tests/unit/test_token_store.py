"""Saving a run's tokens with BatchWriteItem: 25 to a request, unprocessed items retried."""

from datetime import datetime, timezone

import pytest

from usersync.delivery.outcomes import Delivery
from usersync.stores import tokens as tokens_module
from usersync.stores.tokens import TokenStore

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


class FakeBatchTable:
    """Leaves the first item of a request unprocessed `stubborn` times, then takes everything."""

    def __init__(self, stubborn=0):
        self.stubborn, self.requests, self.items = stubborn, [], []

    def batch_write_item(self, RequestItems):
        (table, requests), = RequestItems.items()
        self.requests.append(len(requests))
        if self.stubborn:
            self.stubborn -= 1
            requests, unprocessed = requests[1:], {table: requests[:1]}
        else:
            unprocessed = {}
        self.items.extend(r["PutRequest"]["Item"] for r in requests)
        return {"UnprocessedItems": unprocessed}


def deliveries(n):
    return [Delivery("ct", "clevertap", None, "upload", []) for _ in range(n)]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(tokens_module.time, "sleep", lambda s: None)


def test_tokens_are_written_25_to_a_request_and_unprocessed_ones_retried():
    table = FakeBatchTable(stubborn=2)
    TokenStore("t", client=table).save_all(deliveries(60), now=T0)
    assert table.requests == [25, 1, 1, 25, 10]
    assert len(table.items) == 60 and len({item["sk"]["S"] for item in table.items}) == 60


def test_tokens_still_unprocessed_after_the_last_round_fail_the_invocation():
    table = FakeBatchTable(stubborn=100)
    with pytest.raises(RuntimeError, match="unprocessed"):
        TokenStore("t", client=table).save_all(deliveries(3), now=T0)


def test_no_delivery_no_request():
    table = FakeBatchTable()
    TokenStore("t", client=table).save_all([], now=T0)
    assert table.requests == []
