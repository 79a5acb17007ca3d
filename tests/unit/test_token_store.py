"""The token item of an accepted call: what it records, and a sort key that is stable for one call
(the ledger may write it in several transactions) and unique across calls."""

from datetime import datetime, timezone

from usersync.delivery.outcomes import Delivery
from usersync.records import Source, SourcedRecord, parse_record
from usersync.stores.tokens import TokenStore, plain

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def item(delivery):
    return plain(TokenStore("t", client=object()).item(delivery, now=T0))


def record(index):
    return SourcedRecord(parse_record({"user_id": f"u{index}"}), {}, Source("sqs", "m1", index=index))


def test_a_token_item_names_the_call_not_its_secrets():
    saved = item(Delivery("batch_ios", "batch", "tok-1", "data", [record(0), record(1)], call_id="c" * 32))
    assert saved["pk"] == "TOKEN#batch_ios" and saved["sk"] == f"{T0.isoformat(timespec='milliseconds')}#tok-1"
    assert saved["record_count"] == 2 and saved["sources"] == ["sqs message m1 record 0", "sqs message m1 record 1"]
    assert saved["expires_at"] > T0.timestamp()


def test_a_call_without_a_token_is_keyed_by_its_call_id_the_same_each_time():
    first = Delivery("ct", "clevertap", None, "upload", [], call_id="a" * 32)
    again, other = item(first), item(Delivery("ct", "clevertap", None, "upload", [], call_id="b" * 32))
    assert item(first)["sk"] == again["sk"] != other["sk"] and again["token"] == ""
