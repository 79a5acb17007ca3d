"""Batch.com Custom Data API 1.0: per-user attributes and tags on custom user ids."""
