"""A vendor that only answers: Batch Custom Data bulk updates and CleverTap uploads accepted after
`--latency-ms`, with no contract check and no state. For the throughput benchmark only.

Why not the strict simulators: they check every record against the vendor's rules, in Python, one
request at a time (~80 µs per record on the benchmark machine), so at a few thousand records per
second they, not usersync, would set the pace. A real vendor checks on its own servers; what the
client sees is the round trip. The HTTP server, latency and keep-alive are the simulators' own
(usersync_dev.simulators.server.VendorSimulator); the strict simulators stay in the tests and the HTTP-calls
benchmark.

    python bench/echo_vendor.py --latency-ms 50 --port 9200
    BATCH_API_URL=http://127.0.0.1:9200 CLEVERTAP_API_URL=http://127.0.0.1:9200/{region}
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import uuid
from typing import Any

from usersync_dev.simulators.server import Request, Response, VendorSimulator


class EchoVendor(VendorSimulator):
    ROUTES = (
        ("POST", r"/1\.0/[^/]+/data/users", "batch.bulk"),
        ("POST", r"/[a-z0-9]+/1/upload", "clevertap.upload"),
        ("POST", r"/1/upload", "clevertap.upload"),
    )

    def handle(self, request: Request) -> Response:
        try:
            body = json.loads(request.body)
        except ValueError:
            return Response(400, {"error": "MALFORMED_JSON_BODY"})
        if request.route == "batch.bulk":
            return Response(200, {"token": str(uuid.uuid4())}, items=len(body))
        if request.route == "clevertap.upload":
            records = body.get("d", [])
            return Response(200, {"status": "success", "processed": len(records), "unprocessed": []},
                            items=len(records))
        return Response(404, {"error": "ROUTE_NOT_FOUND"})

    def fault_body(self, status: int) -> Any:
        return {"error": "simulated fault"}

    def clear_state(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    vendor = EchoVendor(port=args.port)
    vendor.latency_s = args.latency_ms / 1000
    vendor.start()
    print(f"Serving {vendor.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    vendor.stop()
    calls = vendor.calls
    print(json.dumps({"calls": len(calls), "items": sum(c.items for c in calls)}), flush=True)


if __name__ == "__main__":
    main()
