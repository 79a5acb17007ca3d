"""Adapters to AWS: DynamoDB (tokens, jobs) and SQS (failed records)."""
