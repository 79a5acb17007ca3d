"""File function: S3 notifications (via SQS) -> one job per object version -> chunk jobs."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.ingest.notifications import is_s3_event
from usersync.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
ingest = wiring.ingest_file()


def ingest_record(record: SQSRecord) -> list:
    return ingest.ingest_message(record.body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    ingest.register_lambda_context(context)
    if is_s3_event(event):  # S3's own event, not through FileEventsQueue (a direct trigger, a test invoke)
        return {"ingested": ingest.ingest_notification(event)}
    return process_partial_response(event=event, record_handler=ingest_record, processor=processor, context=context)
