"""Shared test settings: never reach real AWS, never send traces."""

import os

# Set before any boto3 client exists: tests talk to moto server on 127.0.0.1 only.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "UsersyncTests",
    "POWERTOOLS_SERVICE_NAME": "usersync",
})
os.environ.pop("AWS_PROFILE", None)

# Hypothesis: CI-sized runs by default; HYPOTHESIS_PROFILE=soak runs the hostile-input properties long.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("soak", max_examples=5_000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
