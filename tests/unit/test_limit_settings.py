"""Input limits are settings of the functions (environment variables), with the defaults
usersync.limits states once, and a misconfigured one is named at cold start."""

from __future__ import annotations

import pytest

from usersync.limits import DEFAULT_LIMITS
from usersync.settings import DeliverChunkSettings, DeliverSettings, IngestFileSettings

BASE = {"STATE_TABLE": "t", "DESTINATIONS_CONFIG": "/usersync/destinations", "FAILED_RECORDS_QUEUE_URL": "q",
        "CHUNK_QUEUE_URL": "c", "IDEMPOTENCY_TABLE": "i", "FAILED_RECORDS_BUCKET": "ingest-bucket"}
VARIABLES = {"MAX_RECORD_BYTES": "max_record_bytes", "MAX_RECORDS_PER_MESSAGE": "max_records_per_message",
             "MAX_ATTRIBUTES_PER_RECORD": "max_attributes_per_record", "MAX_NESTING_DEPTH": "max_nesting_depth",
             "MAX_FILE_BYTES": "max_file_bytes", "MAX_INFLATION_RATIO": "max_inflation_ratio"}


@pytest.mark.parametrize("settings", [DeliverSettings, DeliverChunkSettings, IngestFileSettings])
def test_every_limit_defaults_to_usersync_limits_and_is_set_by_its_variable(settings):
    assert settings.from_environment(BASE).input_limits() == DEFAULT_LIMITS
    limits = settings.from_environment({**BASE, **{name: "4096" for name in VARIABLES},
                                        "MAX_NESTING_DEPTH": "32"}).input_limits()
    assert {field: getattr(limits, field) for field in VARIABLES.values()} == {
        **{field: 4096 for field in VARIABLES.values()}, "max_nesting_depth": 32}


@pytest.mark.parametrize("variable, value", [("MAX_RECORD_BYTES", "10"), ("MAX_NESTING_DEPTH", "2"),
                                             ("MAX_INFLATION_RATIO", "0"), ("MAX_RECORDS_PER_MESSAGE", "many")])
def test_a_limit_out_of_its_range_is_named_at_cold_start(variable, value):
    with pytest.raises(RuntimeError, match=variable):
        DeliverSettings.from_environment({**BASE, variable: value})


@pytest.mark.parametrize("settings", [DeliverSettings, DeliverChunkSettings])
def test_the_delivering_functions_know_where_records_too_large_for_an_envelope_go(settings):
    with pytest.raises(RuntimeError, match="FAILED_RECORDS_BUCKET"):
        settings.from_environment({k: v for k, v in BASE.items() if k != "FAILED_RECORDS_BUCKET"})
    chosen = settings.from_environment(BASE)
    assert (chosen.failed_records_bucket, chosen.failed_records_prefix) == ("ingest-bucket", "failed-records/")


def test_failed_records_written_back_are_never_ingested():
    with pytest.raises(RuntimeError, match="must not overlap"):
        DeliverChunkSettings.from_environment({**BASE, "FAILED_RECORDS_PREFIX": "incoming/failed/"})
