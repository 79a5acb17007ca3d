"""Unit tests run the domain with in-memory fakes: no sockets."""

import socket

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unit tests must not open sockets: use an integration test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
