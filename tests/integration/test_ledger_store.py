"""The delivery ledger's DynamoDB adapter against StateTable in moto: conditional claims, string-set
updates, batched reads."""

import pytest

from usersync.delivery.ledger import NO_PROGRESS, Entry
from usersync.delivery.outcomes import Delivery
from usersync.stores.ledger import DynamoDBLedger
from usersync.stores.tokens import plain

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(sandbox):
    return DynamoDBLedger(sandbox.resources["StateTable"]["name"], client=sandbox.stack.client("dynamodb"),
                          now=lambda: 1_000.0)


def test_accepted_pending_and_settled_entries_round_trip(ledger):
    key = ("sqs:m1", "clevertap")
    first, second = Entry(*key, (0, 1, 2)), Entry(*key, (5,))
    ledger.update(pending=[first, second])
    ledger.accept([first], resolved=[first], delivery=receipt("clevertap", None))
    ledger.accept([first], resolved=[], delivery=receipt("clevertap", None))  # written twice (a retry): no change
    progress = ledger.read([key, ("sqs:other", "clevertap")])
    assert progress[key].accepted == {0, 1, 2} and progress[key].uncertain == {5}
    assert progress[("sqs:other", "clevertap")] == NO_PROGRESS
    ledger.update(settled=[second])
    assert ledger.read([key])[key].uncertain == frozenset()


def test_a_claim_holds_until_released_or_expired(ledger):
    key = ("sqs:m2", "clevertap")
    assert ledger.claim([key], "invocation-a", until_epoch=1_060)[key] == NO_PROGRESS
    assert ledger.claim([key], "invocation-b", until_epoch=1_060)[key] is None  # held
    assert ledger.claim([key], "invocation-a", until_epoch=1_090)[key] is not None  # its owner may renew
    ledger.release([key], "invocation-b")  # not the owner: nothing happens
    assert ledger.claim([key], "invocation-b", until_epoch=1_060)[key] is None
    ledger.release([key], "invocation-a")
    assert ledger.claim([key], "invocation-b", until_epoch=1_060)[key] is not None


def test_an_expired_claim_can_be_taken(sandbox):
    table, client = sandbox.resources["StateTable"]["name"], sandbox.stack.client("dynamodb")
    key = ("sqs:m3", "clevertap")
    DynamoDBLedger(table, client, now=lambda: 1_000.0).claim([key], "dead-invocation", until_epoch=1_060)
    later = DynamoDBLedger(table, client, now=lambda: 2_000.0)
    assert later.claim([key], "invocation-b", until_epoch=2_060)[key] is not None


def receipt(destination, token, call_id="c1"):
    return Delivery(destination, "batch", token, "data", [], call_id=call_id)


def test_an_accepted_call_writes_its_marks_and_its_token_together(ledger, sandbox):
    """One transaction per 99 units, the token item in each: the ledger never says accepted without it."""
    units = [Entry(f"sqs:m{i}", "batch_ios", (0, 1)) for i in range(150)]
    ledger.accept(units, resolved=[], delivery=receipt("batch_ios", "tok-1"))
    progress = ledger.read([entry.key for entry in units])
    assert all(p.accepted == {0, 1} and p.tokens == {"tok-1"} for p in progress.values())
    items = sandbox.stack.client("dynamodb").scan(TableName=sandbox.resources["StateTable"]["name"])["Items"]
    tokens = [plain(item) for item in items if item["pk"]["S"] == "TOKEN#batch_ios"]
    assert [t["token"] for t in tokens] == ["tok-1"]  # one item, however many transactions carried it


def test_reads_are_batched_past_100_keys(ledger):
    keys = [(f"sqs:m{i}", "batch_ios") for i in range(150)]
    ledger.accept([Entry(unit, destination, (0,)) for unit, destination in keys[::7]], resolved=[],
                  delivery=receipt("batch_ios", "t"))
    progress = ledger.read(keys)
    assert len(progress) == 150 and sum(1 for p in progress.values() if p.accepted == {0}) == len(keys[::7])


def test_concurrent_writes_are_each_atomic_as_in_dynamodb(ledger, sandbox):
    """The ledger writes from several threads at once (the calls' writes overlap the next calls). In
    DynamoDB each request is atomic; a local stack where a failing transaction put back the table as
    it was before (moto's way) would lose the marks other threads wrote meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    from botocore.exceptions import ClientError

    client, table = sandbox.stack.client("dynamodb"), sandbox.resources["StateTable"]["name"]
    client.put_item(TableName=table, Item={"pk": {"S": "held"}, "sk": {"S": "held"}})
    for start in range(0, 1000, 25):  # a table of some size: copying it takes a while
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {
            "pk": {"S": f"filler-{i}"}, "sk": {"S": "filler"}}}} for i in range(start, start + 25)]})

    def failing_transactions(n: int) -> None:
        for _ in range(n):
            try:
                client.transact_write_items(TransactItems=[{"Put": {
                    "TableName": table, "Item": {"pk": {"S": "held"}, "sk": {"S": "held"}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}])
            except ClientError as error:
                assert "TransactionCanceled" in str(error)

    def marks(thread: int) -> None:
        for position in range(15):
            ledger.update(pending=[Entry(f"sqs:t{thread}", "clevertap", (position,))])

    with ThreadPoolExecutor(max_workers=6) as pool:
        work = [pool.submit(failing_transactions, 20) for _ in range(2)] + [pool.submit(marks, t) for t in range(4)]
        for future in work:
            future.result()
    progress = ledger.read([(f"sqs:t{t}", "clevertap") for t in range(4)])
    assert all(p.pending == set(range(15)) for p in progress.values()), progress
