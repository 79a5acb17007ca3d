"""usersync.secrets: where a secret may come from in Lambda, and how a known one is redacted."""

import logging
import secrets as random_secrets

import boto3
from botocore.exceptions import HTTPClientError
import pytest

from usersync import observability  # noqa: F401 - installs the logging filters
from usersync.secrets import REDACTED, SecretResolver, redact, remember
from usersync.settings import VendorAccessSettings


def short_secret() -> str:
    """A fresh 5-character secret (tests share the process's known secrets)."""
    return "Q" + random_secrets.token_hex(2)


# --- where a secret comes from ------------------------------------------------------------------


def test_in_lambda_an_env_reference_is_refused_and_says_what_is_accepted():
    settings = VendorAccessSettings.from_environment({"AWS_LAMBDA_FUNCTION_NAME": "usersync-deliver",
                                                      "BATCH_REST_KEY": "a-key-in-the-environment"})
    with pytest.raises(ValueError) as refused:
        settings.vendor_context().secrets.resolve("env:BATCH_REST_KEY", what="batch_ios.rest_key")
    message = str(refused.value)
    assert "batch_ios.rest_key" in message and "ssm:" in message and "secretsmanager:" in message
    assert "a-key-in-the-environment" not in message


def test_in_lambda_a_literal_value_is_refused_without_showing_it():
    resolver = SecretResolver(in_lambda=True)
    with pytest.raises(ValueError) as refused:
        resolver.resolve("the-literal-key-1234", what="clevertap.passcode")
    assert "not a value" in str(refused.value) and "the-literal-key-1234" not in str(refused.value)


def test_outside_lambda_env_references_and_values_resolve():
    resolver = SecretResolver(environ={"BATCH_REST_KEY": "from-the-environment"})
    assert resolver.resolve("env:BATCH_REST_KEY", what="k").reveal() == "from-the-environment"
    assert resolver.resolve("a-literal-for-the-demo", what="k").reveal() == "a-literal-for-the-demo"
    with pytest.raises(KeyError, match="UNSET_VARIABLE is not set"):
        resolver.resolve("env:UNSET_VARIABLE", what="k")


# --- redaction --------------------------------------------------------------------------------


def test_a_long_secret_is_redacted_wherever_it_appears():
    key = random_secrets.token_hex(16)
    remember(key)
    assert redact(f"https://api.batch.com/1.0/{key}/data/users and x{key}y") == (
        f"https://api.batch.com/1.0/{REDACTED}/data/users and x{REDACTED}y")


@pytest.mark.parametrize("line", [
    "GET https://api.batch.com/1.0/{s}/data/users HTTP/1.1",        # a URL path segment
    "X-CleverTap-Passcode: {s}",                                     # a header value
    "https://example.com/upload?key={s}&dryRun=1",                   # a query value
    '{{"passcode": "{s}", "region": "eu1"}}',                         # a JSON value
    "{s}",                                                           # the whole text
    "requests.exceptions.ConnectionError: ('{s}', 'reset')",         # a repr in an exception
])
def test_a_short_secret_is_redacted_where_it_stands_whole(line):
    secret = short_secret()
    remember(secret)
    redacted = redact(line.format(s=secret))
    assert secret not in redacted and REDACTED in redacted
    assert redacted == line.format(s=REDACTED)


def test_a_short_secret_inside_a_longer_word_or_key_is_left_alone():
    secret = short_secret()
    remember(secret)
    ordinary = f"user x{secret} has {secret}9 points; {secret}-tagged and tagged_{secret} kept"
    assert redact(ordinary) == ordinary


def test_log_lines_with_a_short_secret_are_redacted(caplog):
    secret = short_secret()
    remember(secret)
    log = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        log.debug('%s "%s %s HTTP/1.1" 200 12', "https://api.batch.com:443", "POST", f"/1.0/{secret}/data/users")
    assert secret not in caplog.text and f"/1.0/{REDACTED}/data/users" in caplog.text


def test_botocore_never_logs_a_request_body(caplog):
    """A PutParameter's body holds the value before any code knows it is a secret."""
    value = "put-" + random_secrets.token_hex(12)
    ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    with caplog.at_level(logging.DEBUG), pytest.raises(HTTPClientError, match="must not open sockets"):
        ssm.put_parameter(Name="/usersync/secrets/new", Value=value, Type="SecureString")
    assert any(r.name.startswith("botocore") for r in caplog.records), "botocore's debug lines are captured"
    assert value not in caplog.text
