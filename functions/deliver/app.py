"""Deliver function: SQS batch of change messages -> vendors, with a partial batch response."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.observability import logger, metrics, tracer

# Keep the poller busy when a whole batch fails: SQS retries each message on its own.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
sync = wiring.deliver()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    outcome = sync.deliver_messages(event["Records"], context)
    return process_partial_response(event=event, record_handler=outcome.check, processor=processor, context=context)
