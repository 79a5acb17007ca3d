"""Running vendor simulators (one per test, so hanging requests cannot leak) and plain `requests` helpers."""

import threading
from types import SimpleNamespace

import pytest
import requests

from usersync_dev.simulators import server as server_module
from usersync_dev.simulators.batch import BatchCustomDataSimulator
from usersync_dev.simulators.batch_audience import BatchAudienceSimulator
from usersync_dev.simulators.batch_profile import BatchProfileSimulator
from usersync_dev.simulators.clevertap import CleverTapSimulator

# fake secrets; tests check they never come back in an answer
KEYS = SimpleNamespace(
    rest="rest-SECRET-7f3a91",
    ios="ios-SECRET-19bc22",
    android="android-SECRET-55d0e4",
    eu_account="ACC-EU-0001",
    eu_passcode="pass-SECRET-eu",
    in_account="ACC-IN-0002",
    in_passcode="pass-SECRET-in",
    project="project_0664hxvwffvbpn278gxdyhsadddqgna6",  # a project key is not a secret
    other_project="project_other",
)
TIMEOUT = 5  # only so that a broken simulator fails a test instead of hanging it


class SimulatorTime:
    """Stands in for a simulator's clock and waits, so that no test measures wall-clock time.

    Every wait a simulator asks for (latency, a slow or hanging fault) is `_stopping.wait(seconds)` on
    its stop event, which stop() sets to end them early. This takes that event's place:
    - `pauses` lists every wait asked for, in order, in seconds;
    - a wait moves the simulator's clock (`monotonic()`, on which `Call.duration_s` is measured) by
      its length and returns at once, so a call's `duration_s` is exactly the waits of that call;
    - after `hold()`, waits block for real instead, on the simulator's own stop event, until
      `release()` or stop(): a client then sees a real hang. `held` is set once a held wait has begun;
      `woken` lists, per held wait, whether it was ended early (True) or ran its full length (False).
    """

    def __init__(self, simulator, monkeypatch):
        self.now = 0.0
        self.pauses: list[float] = []
        self.woken: list[bool] = []
        self.held = threading.Event()
        self._hold = False
        self._event = simulator._stopping
        self._lock = threading.Lock()
        monkeypatch.setattr(simulator, "_stopping", self)
        # the simulators' server reads time.monotonic() only to time its calls
        monkeypatch.setattr(server_module, "time", SimpleNamespace(monotonic=self.monotonic))

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def hold(self) -> None:
        self._hold = True

    def release(self) -> None:
        """Ends the held waits, as stop() does (later waits do not block either)."""
        self._event.set()

    def wait_held(self) -> bool:
        """Blocks until a held wait has begun; the timeout only keeps a broken test from hanging."""
        return self.held.wait(TIMEOUT)

    @staticmethod
    def until(predicate, step=0.01) -> bool:
        """Polls `predicate` until it holds; gives up after TIMEOUT only so that a broken simulator
        fails the test instead of hanging it."""
        for _ in range(int(TIMEOUT / step)):
            if predicate():
                return True
            threading.Event().wait(step)
        return bool(predicate())

    # -- what the simulator calls on its stop event ----------------------------------------------

    def wait(self, timeout: float) -> bool:
        with self._lock:
            self.pauses.append(timeout)
            if not self._hold:
                self.now += timeout
                return self._event.is_set()
        self.held.set()
        woken = self._event.wait(timeout)
        with self._lock:
            self.woken.append(woken)
        return woken

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@pytest.fixture
def keys():
    return KEYS


@pytest.fixture
def simulator_time(monkeypatch):
    """simulator_time(simulator) -> SimulatorTime: its waits recorded, its clock fake."""
    return lambda simulator: SimulatorTime(simulator, monkeypatch)


@pytest.fixture
def batch_data():
    with BatchCustomDataSimulator(KEYS.rest, {KEYS.ios: "ios", KEYS.android: "android"}) as simulator:
        yield simulator


@pytest.fixture
def batch_audience():
    with BatchAudienceSimulator(KEYS.rest, {KEYS.ios: "ios", KEYS.android: "android"}) as simulator:
        yield simulator


@pytest.fixture
def clevertap():
    accounts = {KEYS.eu_account: (KEYS.eu_passcode, "eu1"), KEYS.in_account: (KEYS.in_passcode, "in1")}
    with CleverTapSimulator(accounts, max_records=100, max_concurrency=3) as simulator:
        yield simulator


@pytest.fixture
def data_api(batch_data):
    """call(method, path="", body=None, app_key=ios, rest_key=rest, **requests_kwargs) on /1.0/{key}/data/users"""
    def call(method, path="", body=None, app_key=KEYS.ios, rest_key=KEYS.rest, **kwargs):
        headers = kwargs.pop("headers", {})
        if rest_key is not None:
            headers.setdefault("X-Authorization", rest_key)
        return requests.request(method, f"{batch_data.url}/1.0/{app_key}/data/users{path}", json=body,
                                headers=headers, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    return call


@pytest.fixture
def audience_api(batch_audience):
    """call(method, audience="vip", body=None, app_key=ios, rest_key=rest, **requests_kwargs)"""
    def call(method, audience="vip", body=None, app_key=KEYS.ios, rest_key=KEYS.rest, **kwargs):
        headers = kwargs.pop("headers", {})
        if rest_key is not None:
            headers.setdefault("X-Authorization", rest_key)
        return requests.request(method, f"{batch_audience.url}/1.1/{app_key}/custom-audience/{audience}",
                                json=body, headers=headers, timeout=TIMEOUT, **kwargs)
    return call


@pytest.fixture
def upload(clevertap):
    """upload(records, path="/1/upload", account=EU, passcode=EU's, body=None, **requests_kwargs)"""
    def call(records=None, path="/1/upload", account=KEYS.eu_account, passcode=KEYS.eu_passcode, body=None,
             **kwargs):
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if account is not None:
            headers["X-CleverTap-Account-Id"] = account
        if passcode is not None:
            headers["X-CleverTap-Passcode"] = passcode
        headers.update(kwargs.pop("headers", {}))
        return requests.post(f"{clevertap.url}{path}", json={"d": records} if body is None else body,
                             headers=headers, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    return call


class FakeTime:
    """A clock that moves only when a test says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def profile_clock():
    return FakeTime()


@pytest.fixture
def batch_profile(profile_clock):
    """Mass-updates applied only by apply_pending(); rate limits on a fake clock."""
    with BatchProfileSimulator(KEYS.rest, [KEYS.project, KEYS.other_project], apply_after_s=None,
                               clock=profile_clock) as simulator:
        yield simulator


@pytest.fixture
def profiles_api(batch_profile):
    """call(profiles, route="update", project=KEYS.project, rest_key=rest, version="2.11", body=None, **kwargs)"""
    def call(profiles=None, route="update", project=KEYS.project, rest_key=KEYS.rest, version="2.11", body=None,
             **kwargs):
        headers = kwargs.pop("headers", {})
        if rest_key is not None:
            headers.setdefault("Authorization", f"Bearer {rest_key}")
        if project is not None:
            headers.setdefault("X-Batch-Project", project)
        return requests.post(f"{batch_profile.url}/{version}/profiles/{route}",
                             json=profiles if body is None else body, headers=headers,
                             timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    return call
