"""Imports every command module so their commands register on `usersync.cli.app`."""
