"""Logger, metrics and tracer, created once and imported everywhere (Powertools).

Tracing is opt-in (template parameter `Tracing`, which the functions see as TRACING): with it
`Active`, `tracer` is Powertools' Tracer, which itself heeds POWERTOOLS_TRACE_DISABLED; otherwise
it is a stand-in that does nothing, and the X-Ray SDK (about 0.1 s of imports) is never imported."""

import logging
import os
from contextlib import nullcontext

from aws_lambda_powertools import Logger, Metrics

from usersync.secrets import RedactingFilter

TRACING = os.environ.get("TRACING", "").strip().lower() == "active"


class _Untraced:
    """What stands for Powertools' Tracer when tracing is off: its decorators return the function
    unchanged, and a subsegment records nothing."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler=None, **_options):
        return lambda_handler if lambda_handler is not None else (lambda handler: handler)

    capture_method = capture_lambda_handler

    def put_annotation(self, key, value) -> None:
        pass

    def put_metadata(self, key, value, namespace=None) -> None:
        pass


logger = Logger(service="usersync")
metrics = Metrics(namespace="Usersync", service="usersync")
if TRACING:
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service="usersync")
else:
    tracer = _Untraced()

_redacting = RedactingFilter()
logger.addFilter(_redacting)
for handler in logger.handlers:
    handler.addFilter(_redacting)
# urllib3 logs request lines, and the Batch URL carries the app's API key.
# Filters do not inherit down the logger tree, so each urllib3 logger gets its own.
for name in ("urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "urllib3.response"):
    logging.getLogger(name).addFilter(_redacting)


class _DropRequestsAndResponses(logging.Filter):
    """botocore at DEBUG logs each request's parameters and body (a PutParameter's holds the value),
    the prepared request (its headers the session token) and each response body (a GetParameter's
    or GetSecretValue's holds a secret), before we know a value to redact it: those lines never
    reach a log."""

    LOGGED = ("Making request for", "Sending http request", "Response body")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.LOGGED))


_dropping = _DropRequestsAndResponses()
for name in ("botocore.endpoint", "botocore.parsers"):  # the loggers that write those lines
    logging.getLogger(name).addFilter(_dropping)


def subsegment(name: str):
    """A context manager around an X-Ray subsegment named `name`, nested under the current one
    (`with subsegment(...) as s: s.put_annotation(...)`); records nothing when tracing is off."""
    if tracer.disabled:
        return nullcontext(_Untraced())
    return tracer.provider.in_subsegment(name)


def propagate_trace(fn):
    """`fn`, made to nest its X-Ray subsegments under the caller's when a worker thread runs it
    (the X-Ray context is per thread)."""
    if tracer.disabled:
        return fn
    entity = tracer.provider.get_trace_entity()

    def in_worker(*args, **kwargs):
        tracer.provider.get_trace_entity()  # sets up the Lambda context's thread state first (aws-xray-sdk-python#342)
        tracer.provider.set_trace_entity(entity)
        try:
            return fn(*args, **kwargs)
        finally:
            tracer.provider.clear_trace_entities()

    return in_worker
