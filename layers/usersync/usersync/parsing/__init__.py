"""Turning what users send (SQS message bodies, S3 files) into records with their sources."""
