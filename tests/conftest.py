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
