"""File function: S3 notifications (via SQS) -> one job per object version -> chunk jobs."""

import gc

from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.ingest.notifications import is_s3_event
from usersync.observability import logger, metrics, tracer
from usersync.work.partial_batch import SqsMessage, partial_batch_response

ingest = wiring.ingest_file()


def ingest_record(message: SqsMessage) -> list:
    return ingest.ingest_message(message.body)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    ingest.register_lambda_context(context)
    if is_s3_event(event):  # S3's own event, not through FileEventsQueue (a direct trigger, a test invoke)
        return {"ingested": ingest.ingest_notification(event)}
    return partial_batch_response(event, ingest_record)


gc.freeze()  # what the cold start made lives as long as the instance: the cyclic GC never scans it again
