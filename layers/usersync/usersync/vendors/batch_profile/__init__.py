"""Batch.com Profile API (Customer Engagement Platform): profiles of a project, keyed by Custom ID."""
