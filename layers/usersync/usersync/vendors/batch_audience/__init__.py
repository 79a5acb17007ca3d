"""Batch.com Custom Audience API 1.1: install ids in named audiences."""
