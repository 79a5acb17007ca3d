"""Shared machinery of the vendor simulators: a real HTTP server on 127.0.0.1, a call log, fault injection.

A vendor simulator subclasses `VendorSimulator`, names its routes in `ROUTES` and answers in `handle()`.
Everything that is not the vendor's contract lives here: serving, latency, faults, the call log.

    with BatchCustomDataSimulator(rest_key, {app_key: "ios"}) as sim:
        sim.inject(Fault.status(503, retry_after=2), route="data.bulk")
        ...  # point the client at sim.url
        assert sim.calls[0].status == 503
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

HOST = "127.0.0.1"  # never 0.0.0.0: a simulator must not be reachable from the network
UNKNOWN_ROUTE = "unknown"


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of the vendor, built with the class methods below."""

    kind: str
    seconds: float = 0.0
    code: int = 0
    body: Any = None
    retry_after: int | None = None

    @classmethod
    def status(cls, code: int, body: Any = None, retry_after: int | None = None) -> Fault:
        """Answer `code` without applying the request; `body` None means the vendor's own error body."""
        return cls("status", code=code, body=body, retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Sleep, then close the connection without answering (the request is not applied)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Sleep, then answer normally."""
        return cls("slow", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering; the request is not applied."""
        return cls("drop")

    @classmethod
    def apply_then_drop(cls) -> Fault:
        """Apply the request, then close without answering: the response is lost, the effects are not."""
        return cls("apply_then_drop")


@dataclass(frozen=True)
class Call:
    """One request as the simulator saw it. Route names only: a raw path would hold the API key."""

    method: str
    route: str
    status: int | None  # None: the connection was closed without an answer
    items: int  # users, ids or records the vendor logic counted; 0 when a fault answered first
    duration_s: float


@dataclass(frozen=True)
class Request:
    method: str
    route: str
    params: dict[str, str]  # URL-decoded path parameters of the route
    query: dict[str, str]
    headers: Message
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = None  # JSON value; a str is sent verbatim as text/plain (e.g. a gateway's HTML page)
    headers: dict[str, str] = field(default_factory=dict)
    items: int = 0


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The Content-Type's media type (lower case) and its parameters."""
    message = Message()
    message["Content-Type"] = request.headers.get("Content-Type", "")
    params = {name.lower(): value for name, value in message.get_params()[1:]}
    return message.get_content_type(), params


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN or Infinity. Raises ValueError."""
    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body.decode("utf-8"), parse_constant=reject)


class VendorSimulator:
    """A threaded HTTP server on 127.0.0.1 that routes requests to `handle()`, with faults and a call log."""

    ROUTES: Sequence[tuple[str, str, str]] = ()  # (HTTP method, path regex, route name)

    def __init__(self, port: int = 0) -> None:
        self.latency_s = 0.0  # added to every response, to make benchmarks realistic
        self._routes = [(method, re.compile(path), name) for method, path, name in self.ROUTES]
        self._server = _Server((HOST, port), _Handler)
        self._server.simulator = self
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # wakes sleeping requests on stop()
        self._lock = threading.Lock()  # faults and call log
        self._state_lock = threading.Lock()  # vendor state: handle() runs under it
        self._faults: list[list] = []  # [fault, remaining times, route or None], FIFO
        self._chaos: tuple[float, random.Random, tuple[Fault, ...]] | None = None
        self._calls: list[Call] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def start(self) -> VendorSimulator:
        # a short poll interval makes stop() quick: tests start a simulator each
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> VendorSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget the vendor state, pending faults, chaos mode and the call log (latency_s is kept)."""
        with self._lock:
            self._faults.clear()
            self._chaos = None
            self._calls.clear()
        with self._state_lock:
            self.clear_state()

    # -- faults and call log ---------------------------------------------------------------------

    def inject(self, fault: Fault, times: int = 1, route: str | None = None) -> None:
        """Queue `fault` for the next `times` requests (to `route` only, when given)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        routes = sorted({name for _, _, name in self._routes})
        if route is not None and route not in routes:
            raise ValueError(f"unknown route {route!r}; routes: {routes}")  # a typo would never fire
        with self._lock:
            self._faults.append([fault, times, route])

    def fail_randomly(self, rate: float, seed: int = 0, kinds: Sequence[Fault] | None = None) -> None:
        """Chaos mode: a seeded random fraction `rate` of requests gets one of `kinds`. rate 0 turns it off."""
        kinds = tuple(kinds or (Fault.status(500), Fault.status(503), Fault.drop()))
        with self._lock:
            self._chaos = (rate, random.Random(seed), kinds) if rate > 0 else None

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def _next_fault(self, route: str) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                fault, remaining, only_route = entry
                if only_route in (None, route):
                    if remaining == 1:
                        self._faults.remove(entry)
                    else:
                        entry[1] -= 1
                    return fault
            if self._chaos is not None:
                rate, rng, kinds = self._chaos
                if rng.random() < rate:
                    return rng.choice(kinds)
        return None

    # -- what a vendor simulator provides --------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Validate and apply one request (called under the state lock)."""
        raise NotImplementedError

    def fault_body(self, status: int) -> Any:
        """The vendor's error body for an injected status."""
        raise NotImplementedError

    def clear_state(self) -> None:
        raise NotImplementedError

    @contextmanager
    def admit(self, request: Request) -> Iterator[Response | None]:
        """Hold a request while it is in flight; yield a refusal (e.g. 429) instead to turn it away."""
        yield None

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, http: _Handler) -> None:
        started = time.monotonic()
        request = self._read(http)
        response, items = self._respond(request)
        status = None if response is None else response.status
        with self._lock:  # logged before answering, so a client that got its answer finds its call here
            self._calls.append(Call(request.method, request.route, status, items, time.monotonic() - started))
        if response is None:
            http.close_connection = True  # the client sees the connection closed without an answer
        else:
            _send(http, response)

    def _respond(self, request: Request) -> tuple[Response | None, int]:
        """The response to send (None: close without answering) and the items the vendor logic counted."""
        with self.admit(request) as refusal:
            self._pause(self.latency_s)
            if refusal is not None:
                return refusal, 0
            fault = self._next_fault(request.route)
            if fault is None or fault.kind == "slow":
                self._pause(fault.seconds if fault else 0)
                response = self._handle(request)
                return response, response.items
            if fault.kind == "status":
                headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                body = self.fault_body(fault.code) if fault.body is None else fault.body
                return Response(fault.code, body, headers), 0
            if fault.kind == "apply_then_drop":
                return None, self._handle(request).items
            self._pause(fault.seconds)  # hang; a drop has 0 seconds
            return None, 0

    def _handle(self, request: Request) -> Response:
        with self._state_lock:
            try:
                return self.handle(request)
            except Exception:  # a simulator bug: say it loudly, answer like a vendor's 500
                traceback.print_exc()
                return Response(500, self.fault_body(500))

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _read(self, http: _Handler) -> Request:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length > 0 else b""
        query = dict(parse_qsl(parts.query))
        for method, pattern, name in self._routes:
            match = pattern.fullmatch(parts.path)
            if match and method == http.command:
                params = {key: unquote(value) for key, value in match.groupdict().items()}
                return Request(http.command, name, params, query, http.headers, body)
        return Request(http.command, UNKNOWN_ROUTE, {}, query, http.headers, body)


def _send(http: _Handler, response: Response) -> None:
    if isinstance(response.body, str):
        payload, content_type = response.body.encode(), "text/plain; charset=utf-8"
    else:
        payload, content_type = json.dumps(response.body).encode(), "application/json"
    http.send_response(response.status)
    http.send_header("Content-Type", content_type)
    http.send_header("Content-Length", str(len(payload)))
    for name, value in response.headers.items():
        http.send_header(name, value)
    http.end_headers()
    http.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    block_on_close = False  # stop() must not wait for hanging requests (threads are daemons)
    simulator: VendorSimulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout) closes its socket: not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs: connection reuse matters to benchmarks
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms) on every reused connection. Web servers turn it off; so do we.
    disable_nagle_algorithm = True
    server: _Server

    def _dispatch(self) -> None:
        self.server.simulator._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds API keys: never log it
