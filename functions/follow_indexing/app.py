"""Follow-indexing function: on a schedule, follows pending Batch Custom Audience indexing tokens until APPLIED."""

import gc

from aws_lambda_powertools.utilities.typing import LambdaContext

from usersync import wiring
from usersync.observability import logger, metrics, tracer

follow_up = wiring.follow_indexing()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return follow_up.run().summary()


gc.freeze()  # what the cold start made lives as long as the instance: the cyclic GC never scans it again
