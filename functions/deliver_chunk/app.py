"""Chunk function: one chunk job (a run of rows of a file) -> vendors, retried on its own."""

import gc

from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.observability import logger, metrics, tracer
from usersync.work.partial_batch import SqsMessage, partial_batch_response

runner = wiring.deliver_chunk()


def run_chunk(message: SqsMessage, lambda_context: LambdaContext | None = None) -> str | None:
    return runner.run_message(message.body, lambda_context, message.receive_count).job_state


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return partial_batch_response(event, lambda message: run_chunk(message, context))


gc.freeze()  # what the cold start made lives as long as the instance: the cyclic GC never scans it again
