"""The follow-indexing function's work: every pending Batch Custom Audience indexing token ->
Batch's index-state GET -> APPLIED (with the time it took), still IN_PROGRESS, or ERROR.

Runs on a schedule. A run that overlaps another is harmless: a state is recorded once
(conditional write), and a transient vendor failure leaves the token pending for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aws_lambda_powertools.metrics import MetricUnit

from usersync.delivery.destination import Destination
from usersync.delivery.outcomes import VendorRejected, VendorUnavailable
from usersync.observability import logger, metrics
from usersync.stores.indexing import APPLIED, ERROR, IN_PROGRESS, IndexingTokens, PendingToken

MAX_TOKENS_PER_RUN = 1000  # a run every minute with a 60 s timeout; the rest waits for the next run


@dataclass(slots=True)
class FollowUpReport:
    applied: list[dict] = field(default_factory=list)  # the token items as saved
    in_progress: int = 0
    errors: int = 0      # recorded as ERROR: will never apply (unknown token or audience)
    deferred: int = 0    # vendor unavailable or misconfigured: tried again next run

    def summary(self) -> dict[str, int]:
        return {"applied": len(self.applied), "in_progress": self.in_progress, "errors": self.errors,
                "deferred": self.deferred}


class IndexingFollowUp:
    def __init__(self, destinations: Callable[[], Mapping[str, Destination]], tokens: IndexingTokens):
        self._destinations, self.tokens = destinations, tokens

    def run(self, limit: int = MAX_TOKENS_PER_RUN, now: Callable[[], datetime] | None = None) -> FollowUpReport:
        now = now or (lambda: datetime.now(timezone.utc))
        destinations = self._destinations()
        report = FollowUpReport()
        for token in self.tokens.pending(limit):
            self._follow(token, destinations.get(token.destination), report, now)
        logger.info("followed indexing tokens", extra=report.summary())
        metrics.add_metric(name="IndexingTokensApplied", unit=MetricUnit.Count, value=len(report.applied))
        for saved in report.applied:
            metrics.add_metric(name="IndexingSeconds", unit=MetricUnit.Seconds, value=float(saved["indexing_seconds"]))
        return report

    def _follow(self, token: PendingToken, destination, report: FollowUpReport, now) -> None:
        where = {"destination": token.destination, "audience": token.audience, "token": token.token}
        if not hasattr(destination, "indexing_state"):
            # The destination was renamed or removed: its token can no longer be followed.
            self.tokens.record(token, ERROR, now=now(), error=f"destination {token.destination!r} is no longer "
                               "configured as a batch_audience destination")
            report.errors += 1
            return
        try:
            state = destination.indexing_state(token.audience, token.token)
        except VendorUnavailable as exc:
            logger.warning("indexing state unavailable, will ask again", extra={**where, "reason": str(exc)})
            report.deferred += 1
            return
        except VendorRejected as exc:
            if exc.status == 404:  # Batch no longer knows this token or audience
                self.tokens.record(token, ERROR, now=now(), error=f"HTTP 404 {exc.code}: {exc.message}")
                report.errors += 1
            else:  # a key or setup problem: once fixed, the next run picks the token up again
                logger.error("indexing state refused", extra={**where, "status": exc.status, "code": exc.code})
                report.deferred += 1
            return
        saved = self.tokens.record(token, state, now=now())
        if state == APPLIED and saved:
            report.applied.append(saved)
        elif state == IN_PROGRESS:
            report.in_progress += 1
