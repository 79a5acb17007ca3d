"""Running vendor simulators (one per test, so hanging requests cannot leak) and plain `requests` helpers."""

from types import SimpleNamespace

import pytest
import requests

from usersync_dev.simulators.batch import BatchCustomDataSimulator
from usersync_dev.simulators.batch_audience import BatchAudienceSimulator
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
)
TIMEOUT = 5


@pytest.fixture
def keys():
    return KEYS


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
