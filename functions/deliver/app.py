"""Deliver function: SQS batch of change messages -> vendors, with a partial batch response."""

import gc

from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.observability import logger, metrics, tracer
from usersync.work.partial_batch import partial_batch_response

sync = wiring.deliver()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    outcome = sync.deliver_messages(event["Records"], context)
    # Every message is answered, even when all must be retried: SQS then retries each on its own.
    return partial_batch_response(event, outcome.check)


gc.freeze()  # what the cold start made lives as long as the instance: the cyclic GC never scans it again
