"""The local stack: moto server from template.yaml, the event pump, the sandbox."""
