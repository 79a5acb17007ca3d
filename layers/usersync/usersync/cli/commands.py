"""Imports every command module so their commands register on `usersync.cli.app`."""
from usersync.cli import run, simulators, tokens, validate  # noqa: F401,E401
from usersync.cli import replay  # noqa: F401,E402
from usersync.cli import jobs  # noqa: F401,E402
