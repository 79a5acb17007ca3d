"""DynamoDB refuses a write that meets a transaction on its item (TransactionConflict) and botocore does
not retry it: the ledger sends it again, so calls settling at once never fail an invocation or leave
an applied increment looking uncertain. What DynamoDB answers is stubbed (moto never conflicts)."""

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from usersync.delivery.ledger import Entry
from usersync.delivery.outcomes import Delivery
from usersync.stores import ledger as store
from usersync.stores.ledger import DynamoDBLedger


@pytest.fixture
def stubbed():
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield DynamoDBLedger("state", client=client), stubber
        stubber.assert_no_pending_responses()


def cancelled(stubber, *reasons):
    stubber.add_client_error("transact_write_items", service_error_code="TransactionCanceledException",
                             modeled_fields={"CancellationReasons": [{"Code": r} for r in reasons]})


def accept(ledger):
    ledger.accept([Entry("sqs:m1", "batch", (0, 1))], resolved=[],
                  delivery=Delivery("batch", "batch", "tok", "data", [], call_id="c" * 32))


def test_an_accepted_write_refused_for_a_conflict_is_sent_again(stubbed):
    ledger, stubber = stubbed
    cancelled(stubber, "None", "TransactionConflict")
    cancelled(stubber, "TransactionConflict", "None")
    stubber.add_response("transact_write_items", {})
    accept(ledger)


def test_a_mark_refused_for_a_conflict_is_sent_again(stubbed):
    ledger, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code="TransactionConflictException")
    stubber.add_response("update_item", {})
    ledger.update(pending=[Entry("sqs:m1", "clevertap", (3,))])


def test_a_claim_refused_for_a_conflict_is_taken_again(stubbed):
    ledger, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code="TransactionConflictException")
    stubber.add_response("update_item", {"Attributes": {}})
    assert ledger.claim([("sqs:m1", "clevertap")], "me", 1e10) == {("sqs:m1", "clevertap"): store.NO_PROGRESS}


def test_a_transaction_cancelled_for_another_reason_is_not_retried(stubbed):
    ledger, stubber = stubbed
    cancelled(stubber, "TransactionConflict", "ValidationError")
    with pytest.raises(ClientError, match="TransactionCanceled"):
        accept(ledger)


def test_a_conflict_that_does_not_pass_fails_the_write_after_a_bounded_pause(stubbed, monkeypatch):
    ledger, stubber = stubbed
    pauses = []
    monkeypatch.setattr(store.time, "sleep", pauses.append)
    for _ in range(store.CONFLICT_ATTEMPTS):
        cancelled(stubber, "TransactionConflict")
    with pytest.raises(ClientError, match="TransactionCanceled"):
        accept(ledger)
    assert len(pauses) == store.CONFLICT_ATTEMPTS - 1 and sum(pauses) < 1.0
