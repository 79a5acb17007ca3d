"""The composition root's promises about AWS clients: every client of a function signs with the
credentials it had at cold start, even one made later; what an invocation may never need is made
on first use, once."""

import threading

import pytest

from usersync import wiring
from usersync.settings import DeliverSettings

ENVIRON = {"STATE_TABLE": "state", "DESTINATIONS_CONFIG": '{"destinations": {}}', "FAILED_RECORDS_QUEUE_URL": "https://q",
           "FAILED_RECORDS_BUCKET": "b", "REPLAY_KEY": "ssm:/usersync/secrets/replay_signing_key"}


@pytest.fixture
def cold_start_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCOLDSTART")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cold-start-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "cold-start-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_a_client_made_after_cold_start_signs_with_the_cold_start_credentials(cold_start_credentials, monkeypatch):
    sync = wiring.deliver(DeliverSettings.from_environment(ENVIRON))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDLATER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "later-secret")
    queue = sync.delivery.failed._client
    assert queue._made is None, "the failed-records queue's client is made on first use"
    assert queue._request_signer._credentials.access_key == "AKIDCOLDSTART"
    assert queue.meta.service_model.service_name == "sqs"


def test_the_clients_every_invocation_uses_are_made_at_cold_start_the_others_on_first_use(cold_start_credentials):
    sync = wiring.deliver(DeliverSettings.from_environment(ENVIRON))
    ledger_client = sync.delivery.ledger._client
    assert ledger_client.meta.service_model.service_name == "dynamodb"
    assert not isinstance(ledger_client, wiring._Lazy)
    for lazy in (sync.delivery.failed._client, sync.delivery.failed.overflow._client):
        assert isinstance(lazy, wiring._Lazy) and lazy._made is None


def test_a_client_first_used_by_several_threads_at_once_is_made_once(cold_start_credentials):
    aws = wiring._Aws()
    client = aws.client("sqs")
    seen, start = [], threading.Barrier(8)

    def use():
        start.wait()
        seen.append(id(client.meta))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and aws.made("sqs") is client._made
