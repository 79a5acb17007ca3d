"""Fault injection, chaos mode, latency, the call log and the server's lifecycle, shared by every simulator.

No test here measures wall-clock time: `simulator_time` records the waits a simulator asks for and
times its call log on a fake clock (see conftest.SimulatorTime)."""

import socket
import threading

import pytest
import requests

from usersync_dev.simulators.batch import BatchCustomDataSimulator
from usersync_dev.simulators.server import Call, Fault

pytestmark = pytest.mark.integration


def set_nickname(data_api, user="u", nickname="x", **kwargs):
    return data_api("POST", f"/{user}", {"values": {"u.nickname": nickname}}, **kwargs)


# -- status faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("status, error, code", [(500, "SERVER_ERROR", 1), (503, "MAINTENANCE_ERROR", 2),
                                                 (403, "API_MISUSE", 12), (429, "TOO_MANY_REQUESTS", 429)])
def test_a_status_fault_answers_in_batch_error_format_without_applying(batch_data, data_api, status, error,
                                                                      code):
    batch_data.inject(Fault.status(status))

    response = set_nickname(data_api)

    assert response.status_code == status
    assert response.json() == {"error_code": code, "error": error, "error_message": "simulated fault"}
    assert "Retry-After" not in response.headers
    assert batch_data.profile("ios", "u") is None
    assert set_nickname(data_api).status_code == 200  # consumed once


def test_a_status_fault_can_carry_retry_after_and_a_body(batch_data, data_api):
    batch_data.inject(Fault.status(429, body={"error": "slow down"}, retry_after=2))
    batch_data.inject(Fault.status(502, body="<html>Bad Gateway</html>"))

    throttled, gateway = set_nickname(data_api), set_nickname(data_api)

    assert (throttled.status_code, throttled.headers["Retry-After"], throttled.json()) == \
        (429, "2", {"error": "slow down"})
    assert (gateway.status_code, gateway.text) == (502, "<html>Bad Gateway</html>")
    assert gateway.headers["Content-Type"].startswith("text/plain")


def test_clevertap_status_faults_use_its_fail_body(clevertap, upload):
    clevertap.inject(Fault.status(503, retry_after=1))

    response = upload([{"identity": "a", "type": "profile", "profileData": {"Name": "A"}}])

    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert response.json() == {"status": "fail", "error": "Service Unavailable", "code": 503}
    assert clevertap.profile("ACC-EU-0001", "a") is None and clevertap.uploads == 0


# -- connection faults ---------------------------------------------------------------------------


def test_hang_makes_the_client_time_out_and_applies_nothing(batch_data, data_api, simulator_time):
    waits = simulator_time(batch_data)
    waits.hold()  # the hang blocks for real, until released
    batch_data.inject(Fault.hang(30))

    with pytest.raises(requests.ReadTimeout):
        set_nickname(data_api, timeout=(1, 0.2))

    # the client gave up on its own read timeout while the hang was still on: a call is logged when it ends
    assert waits.wait_held() and waits.pauses == [30] and batch_data.calls == []
    waits.release()
    assert waits.until(lambda: batch_data.calls)
    assert [(c.route, c.status, c.items) for c in batch_data.calls] == [("data.single", None, 0)]
    assert waits.woken == [True]  # ended by the release, not by running its 30 s
    assert batch_data.profile("ios", "u") is None and batch_data.tokens == []


def test_hang_closes_without_an_answer_once_over(batch_data, data_api):
    batch_data.inject(Fault.hang(0.1))
    with pytest.raises(requests.ConnectionError):
        set_nickname(data_api)
    assert [(c.route, c.status) for c in batch_data.calls] == [("data.single", None)]


def test_slow_answers_late_and_applies(batch_data, data_api, simulator_time):
    waits = simulator_time(batch_data)
    batch_data.inject(Fault.slow(0.2))

    response = set_nickname(data_api)

    assert response.status_code == 200 and batch_data.profile("ios", "u") is not None
    assert waits.pauses == [0.2]  # the answer waited for the fault's 0.2 s ...
    assert [(c.status, c.items, c.duration_s) for c in batch_data.calls] == [(200, 1, 0.2)]  # ... logged as such


def test_drop_closes_the_connection_and_applies_nothing(batch_data, data_api):
    batch_data.inject(Fault.drop())

    with pytest.raises(requests.ConnectionError):
        set_nickname(data_api)

    assert batch_data.profile("ios", "u") is None and batch_data.tokens == []
    assert [(c.status, c.items) for c in batch_data.calls] == [(None, 0)]


def test_apply_then_drop_loses_the_response_but_not_the_effects(batch_data, data_api):
    batch_data.inject(Fault.apply_then_drop())

    with pytest.raises(requests.ConnectionError):
        set_nickname(data_api, nickname="applied")

    assert batch_data.profile("ios", "u")["attributes"] == {"nickname": "applied"}
    assert len(batch_data.tokens) == 1
    assert [(c.status, c.items) for c in batch_data.calls] == [(None, 1)]


def test_a_session_recovers_after_a_drop(batch_data):
    batch_data.inject(Fault.drop())
    with requests.Session() as session:
        session.headers["X-Authorization"] = "irrelevant"
        with pytest.raises(requests.ConnectionError):
            session.get(batch_data.url + "/anything", timeout=5)
        assert session.get(batch_data.url + "/anything", timeout=5).status_code == 404


# -- queueing ------------------------------------------------------------------------------------


def test_faults_are_consumed_in_fifo_order_and_times_repeats_one(batch_data, data_api):
    batch_data.inject(Fault.status(503), times=2)
    batch_data.inject(Fault.status(500))

    statuses = [set_nickname(data_api).status_code for _ in range(4)]

    assert statuses == [503, 503, 500, 200]


def test_a_route_fault_waits_for_its_route(batch_data, data_api):
    batch_data.inject(Fault.status(503), route="data.bulk")

    assert set_nickname(data_api).status_code == 200
    assert data_api("POST", body=[{"id": "a", "update": {"values": {}}}]).status_code == 503
    assert data_api("POST", body=[{"id": "a", "update": {"values": {}}}]).status_code == 200


def test_inject_rejects_unknown_routes_and_bad_times(batch_data):
    with pytest.raises(ValueError, match="data.bulk"):
        batch_data.inject(Fault.drop(), route="data.bluk")
    with pytest.raises(ValueError):
        batch_data.inject(Fault.drop(), times=0)


def test_faults_are_taken_exactly_once_under_concurrency(batch_data, data_api):
    batch_data.inject(Fault.status(503), times=5)
    statuses = []
    threads = [threading.Thread(target=lambda n=n: statuses.append(set_nickname(data_api, f"u{n}").status_code))
               for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 15 + [503] * 5
    assert batch_data.users_count("ios") == 15


# -- chaos ---------------------------------------------------------------------------------------


def outcomes(data_api, count):
    results = []
    for n in range(count):
        try:
            results.append(set_nickname(data_api, f"u{n}").status_code)
        except requests.ConnectionError:
            results.append("dropped")
    return results


def test_fail_randomly_is_seeded_and_reproducible(batch_data, data_api):
    batch_data.fail_randomly(0.3, seed=7, kinds=[Fault.status(500), Fault.drop()])
    first = outcomes(data_api, 40)
    batch_data.reset()
    batch_data.fail_randomly(0.3, seed=7, kinds=[Fault.status(500), Fault.drop()])
    second = outcomes(data_api, 40)

    assert first == second
    assert 4 <= sum(outcome != 200 for outcome in first) <= 20
    assert {500, "dropped"} <= set(first)
    assert batch_data.users_count("ios") == first.count(200)


def test_fail_randomly_turns_off_with_rate_zero_or_reset(batch_data, data_api):
    batch_data.fail_randomly(1.0, seed=1)
    assert 200 not in outcomes(data_api, 5)
    batch_data.fail_randomly(0)
    assert outcomes(data_api, 5) == [200] * 5
    batch_data.fail_randomly(1.0, seed=1)
    batch_data.reset()
    assert outcomes(data_api, 5) == [200] * 5


def test_injected_faults_come_before_chaos(batch_data, data_api):
    batch_data.fail_randomly(1.0, seed=1, kinds=[Fault.status(500)])
    batch_data.inject(Fault.status(503))
    assert outcomes(data_api, 2) == [503, 500]


# -- latency, call log, reset, lifecycle ---------------------------------------------------------


def test_latency_is_added_to_every_response(batch_data, data_api, simulator_time):
    waits = simulator_time(batch_data)
    batch_data.latency_s = 0.1
    batch_data.inject(Fault.status(503))

    statuses = [set_nickname(data_api).status_code, set_nickname(data_api).status_code,
                data_api("GET", "/nowhere").status_code]

    assert statuses == [503, 200, 404]
    assert waits.pauses == [0.1] * 3  # a fault's answer, an answer and an unknown route's each waited
    assert [(c.route, c.duration_s) for c in batch_data.calls] == [
        ("data.single", pytest.approx(0.1)), ("data.single", pytest.approx(0.1)), ("unknown", pytest.approx(0.1))]


def test_the_call_log_holds_route_names_and_no_secret(batch_data, data_api, keys, simulator_time):
    simulator_time(batch_data)  # its calls are timed on a fake clock that nothing moves here
    set_nickname(data_api)
    data_api("DELETE", body=["a", "b", "c"])
    set_nickname(data_api, rest_key="bad")

    calls = batch_data.calls
    assert [(c.method, c.route, c.status, c.items) for c in calls] == [
        ("POST", "data.single", 200, 1), ("DELETE", "data.bulk_delete", 200, 3), ("POST", "data.single", 401, 0)]
    assert all(isinstance(c, Call) and c.duration_s == 0 for c in calls)  # no latency, no fault: no wait
    assert keys.rest not in repr(calls) and keys.ios not in repr(calls)


def test_reset_clears_state_faults_and_calls(batch_data, data_api):
    set_nickname(data_api)
    batch_data.inject(Fault.drop(), times=3)

    batch_data.reset()

    assert batch_data.calls == [] and batch_data.tokens == [] and batch_data.profile("ios", "u") is None
    assert set_nickname(data_api).status_code == 200


def test_simulators_listen_on_loopback_only(batch_data, batch_audience, clevertap):
    for simulator in (batch_data, batch_audience, clevertap):
        assert simulator.url.startswith("http://127.0.0.1:")
        port = int(simulator.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


def test_stop_does_not_wait_for_a_hanging_request(keys, simulator_time):
    simulator = BatchCustomDataSimulator(keys.rest, {keys.ios: "ios"}).start()
    waits = simulator_time(simulator)
    waits.hold()  # the hang blocks for real
    simulator.inject(Fault.hang(30))
    errors = []

    def call():
        try:
            requests.post(f"{simulator.url}/1.0/{keys.ios}/data/users", timeout=5)
        except requests.RequestException as error:
            errors.append(error)

    client = threading.Thread(target=call)
    client.start()
    assert waits.wait_held()  # the request is now hanging in the server

    simulator.stop()

    client.join(timeout=5)
    assert waits.pauses == [30] and waits.woken == [True]  # stop() ended the hang instead of waiting it out
    assert len(errors) == 1 and isinstance(errors[0], requests.ConnectionError)
    assert [(c.route, c.status) for c in simulator.calls] == [("data.bulk", None)]
