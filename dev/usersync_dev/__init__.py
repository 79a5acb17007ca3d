"""usersync_dev: development tooling around the usersync runtime, never shipped in the Lambda layer.

The vendor simulators, the moto-based local stack, the demo and the `usersync` command line.
It imports `usersync`; `usersync` never imports it.
"""
