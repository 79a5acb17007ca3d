"""The functions' SQS partial batch response: every message handled, each failing one handed back."""

import logging

import pytest

from usersync.work.partial_batch import SqsMessage, partial_batch_response


def sqs_event(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m-{i}", "body": body, "attributes": {"ApproximateReceiveCount": str(i + 1)},
                         "eventSource": "aws:sqs"} for i, body in enumerate(bodies)]}


def test_only_the_messages_whose_handling_raised_are_handed_back_in_order():
    handled = []

    def handle(message: SqsMessage):
        handled.append((message.message_id, message.body, message.receive_count))
        if message.body.startswith("bad"):
            raise RuntimeError("no")

    response = partial_batch_response(sqs_event("ok", "bad 1", "ok", "bad 2"), handle)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert handled == [("m-0", "ok", 1), ("m-1", "bad 1", 2), ("m-2", "ok", 3), ("m-3", "bad 2", 4)]


def test_a_batch_that_all_fails_is_answered_not_raised_and_one_that_all_succeeds_hands_nothing_back():
    def fail(message):
        raise ValueError(message.body)

    assert partial_batch_response(sqs_event("a", "b"), fail) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}
    assert partial_batch_response(sqs_event("a", "b"), lambda message: None) == {"batchItemFailures": []}


def test_why_a_message_failed_is_logged_at_debug_with_secrets_redacted(caplog):
    from usersync.secrets import Secret

    Secret("a-secret-value-123")
    caplog.set_level(logging.DEBUG)

    def fail(message):
        raise PermissionError("denied for a-secret-value-123")

    partial_batch_response(sqs_event("x"), fail)
    assert "m-0 handed back to SQS: PermissionError: denied for ***" in caplog.text
    assert "a-secret-value-123" not in caplog.text


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "no"}])
def test_an_event_without_sqs_records_is_refused(event):
    with pytest.raises(ValueError, match="not an SQS event"):
        partial_batch_response(event, lambda message: None)
