"""Chunk function: one chunk job (a run of rows of a file) -> vendors, retried on its own."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
runner = wiring.deliver_chunk()


def run_chunk(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str | None:
    return runner.run_message(record.body, lambda_context, int(record.attributes.approximate_receive_count)).job_state


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=run_chunk, processor=processor, context=context)
