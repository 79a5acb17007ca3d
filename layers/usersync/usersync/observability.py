"""Logger, metrics and tracer, created once and imported everywhere (Powertools)."""

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

from usersync.secrets import RedactingFilter

logger = Logger(service="usersync")
metrics = Metrics(namespace="Usersync", service="usersync")
tracer = Tracer(service="usersync")

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
