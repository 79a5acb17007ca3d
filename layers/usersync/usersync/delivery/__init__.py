"""Delivery: route records to destinations, batch them to each vendor's limits, send, collect outcomes."""
