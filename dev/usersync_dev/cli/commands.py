"""Imports every command module so their commands register on `usersync_dev.cli.app`."""
from usersync_dev.cli import run, simulators, tokens, validate  # noqa: F401,E401
from usersync_dev.cli import replay  # noqa: F401,E402
from usersync_dev.cli import jobs  # noqa: F401,E402
from usersync_dev.cli import erasure  # noqa: F401,E402
