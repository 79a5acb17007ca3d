"""`usersync simulators`: the vendor simulators on 127.0.0.1, for your own experiments.

They check every request against the vendor's contract (the vendors' pages), answer like the
vendors, and keep what they were sent; latency and random failures can be added. Nothing leaves
the machine.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from usersync_dev.simulators.batch import BatchCustomDataSimulator
from usersync_dev.simulators.batch_audience import BatchAudienceSimulator
from usersync_dev.simulators.batch_profile import BatchProfileSimulator
from usersync_dev.cli import app
from usersync_dev.cli.console import EXIT_USAGE, console, fail
from usersync_dev.simulators.clevertap import CleverTapSimulator
from usersync_dev.simulators.server import VendorSimulator

BATCH_APPS = ("ios", "android", "web")
CLEVERTAP_ACCOUNT = "TEST-ACC-0001"
CLEVERTAP_REGION = "eu1"
PROFILE_PROJECT = "project_usersync_local"  # a project key is not a secret
DEFAULT_PORTS = {"batch": 9101, "batch_audience": 9102, "clevertap": 9103, "batch_profile": 9104}


def _port_option(vendor: str):
    return typer.Option(f"--{vendor.replace('_', '-')}-port", min=0, max=65535,
                        help=f"Port of the {vendor} simulator (0: any free port).")


class Simulators:
    """The simulators with fresh random keys, started and stopped together."""

    def __init__(self, ports: dict[str, int] | None = None, latency_s: float = 0.0):
        ports = {**{vendor: 0 for vendor in DEFAULT_PORTS}, **(ports or {})}
        self.keys = {"rest_key": secrets.token_hex(16), "clevertap_passcode": secrets.token_hex(12)}
        self.keys.update({f"{app_name}_api_key": secrets.token_hex(16) for app_name in BATCH_APPS})
        app_keys = {self.keys[f"{app_name}_api_key"]: app_name for app_name in BATCH_APPS}
        self.vendors: dict[str, VendorSimulator] = {
            "batch": BatchCustomDataSimulator(self.keys["rest_key"], app_keys, port=ports["batch"]),
            "batch_audience": BatchAudienceSimulator(self.keys["rest_key"], app_keys, auto_create=True,
                                                     port=ports["batch_audience"]),
            "clevertap": CleverTapSimulator({CLEVERTAP_ACCOUNT: (self.keys["clevertap_passcode"], CLEVERTAP_REGION)},
                                            port=ports["clevertap"]),
            "batch_profile": BatchProfileSimulator(self.keys["rest_key"], [PROFILE_PROJECT], port=ports["batch_profile"]),
        }
        for simulator in self.vendors.values():
            simulator.latency_s = latency_s

    def start(self) -> Simulators:
        for simulator in self.vendors.values():
            simulator.start()
        return self

    def stop(self) -> None:
        for simulator in self.vendors.values():
            simulator.stop()

    def __enter__(self) -> Simulators:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The variables that point usersync's clients at the simulators."""
        return {
            "BATCH_API_URL": self.vendors["batch"].url,
            "BATCH_AUDIENCE_API_URL": self.vendors["batch_audience"].url,  # one host in the cloud, three simulators here
            "BATCH_PROFILE_API_URL": self.vendors["batch_profile"].url,
            "CLEVERTAP_API_URL": self.vendors["clevertap"].url + "/{region}",  # it serves /<region>/1/upload
        }

    def destinations(self) -> dict:
        """A destinations config for these simulators (literal keys: accepted outside Lambda only)."""
        config: dict[str, dict] = {f"batch_{app_name}": {
            "type": "batch", "api_key": self.keys[f"{app_name}_api_key"], "rest_key": self.keys["rest_key"],
        } for app_name in BATCH_APPS}
        config["batch_ios_audiences"] = {"type": "batch_audience", "api_key": self.keys["ios_api_key"],
                                         "rest_key": self.keys["rest_key"]}
        config["batch_profile"] = {"type": "batch_profile", "project_key": PROFILE_PROJECT,
                                   "rest_key": self.keys["rest_key"]}
        config["clevertap"] = {"type": "clevertap", "account_id": CLEVERTAP_ACCOUNT,
                               "passcode": self.keys["clevertap_passcode"], "region": CLEVERTAP_REGION}
        return {"destinations": config}


@app.command()
def simulators(
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0, max=60_000,
                                              help="Added to every answer, like a distant vendor.")] = 0,
    fail_rate: Annotated[float, typer.Option("--fail-rate", min=0, max=1,
                                             help="Fraction of requests answered 500/503 or dropped (seeded).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of --fail-rate's random choices.")] = 0,
    batch_port: Annotated[int, _port_option("batch")] = DEFAULT_PORTS["batch"],
    batch_audience_port: Annotated[int, _port_option("batch_audience")] = DEFAULT_PORTS["batch_audience"],
    clevertap_port: Annotated[int, _port_option("clevertap")] = DEFAULT_PORTS["clevertap"],
    batch_profile_port: Annotated[int, _port_option("batch_profile")] = DEFAULT_PORTS["batch_profile"],
    write_config: Annotated[Optional[Path], typer.Option(
        "--write-config", dir_okay=False, writable=True,
        help="Write a destinations config for these simulators to this file.")] = None,
    duration: Annotated[Optional[float], typer.Option(
        min=0, help="Stop after this many seconds (scripts); default: run until Ctrl-C.")] = None,
) -> None:
    """Start the Batch Custom Data, Custom Audience, Profile API and CleverTap simulators on 127.0.0.1.

    Prints their URLs and keys, then serves in the foreground until Ctrl-C (or --duration), and
    prints the calls they answered.
    """
    ports = {"batch": batch_port, "batch_audience": batch_audience_port, "clevertap": clevertap_port,
             "batch_profile": batch_profile_port}
    try:
        running = Simulators(ports, latency_s=latency_ms / 1000).start()
    except OSError as exc:
        fail(f"cannot start the simulators: {exc} (another program on one of the ports {sorted(ports.values())}? "
             "choose others with --batch-port/--batch-audience-port/--clevertap-port/--batch-profile-port, 0 for any)",
             EXIT_USAGE)
    try:
        for simulator in running.vendors.values():
            simulator.fail_randomly(fail_rate, seed=seed)
        describe(running, latency_ms, fail_rate)
        if write_config is not None:
            write_config.write_text(json.dumps(running.destinations(), indent=2) + "\n", encoding="utf-8")
            console.print(f"\nDestinations config written to {write_config}: "
                          f"DESTINATIONS_CONFIG=file:{write_config}")
        console.print("\n[dim]Serving until Ctrl-C…[/]" if duration is None else f"\n[dim]Serving for {duration:g} s…[/]")
        _wait(duration)
    finally:
        running.stop()
        console.print(calls_table(running))


def _wait(duration: float | None) -> None:
    stop = threading.Event()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while deadline is None or time.monotonic() < deadline:
            stop.wait(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass


def describe(running: Simulators, latency_ms: float, fail_rate: float) -> None:
    keys, vendors = running.keys, running.vendors
    console.print("[bold]Vendor simulators on 127.0.0.1[/]")
    console.print(f"  Batch Custom Data 1.0           {vendors['batch'].url}")
    console.print(f"  Batch Custom Audience 1.1       {vendors['batch_audience'].url}  (audiences created on first use)")
    console.print(f"  CleverTap Upload User Profiles  {vendors['clevertap'].url}  (region {CLEVERTAP_REGION}: POST /1/upload)")
    console.print(f"  Batch Profile API               {vendors['batch_profile'].url}  (project {PROFILE_PROJECT})")
    console.print("[bold]Keys[/] (fresh for this run)")
    rows = [("Batch REST API key (X-Authorization, Bearer)", keys["rest_key"])]
    rows += [(f"Batch {app_name} app API key", keys[f"{app_name}_api_key"]) for app_name in BATCH_APPS]
    rows += [("CleverTap account id / passcode", f"{CLEVERTAP_ACCOUNT} / {keys['clevertap_passcode']}")]
    for label, value in rows:
        console.print(f"  {label:<38}{value}")
    if latency_ms or fail_rate:
        console.print(f"Every answer takes {latency_ms:g} ms more; {fail_rate:.0%} of requests fail at random.")
    console.print("[bold]Point usersync (or your own code) at them[/]")
    for name, value in running.environment().items():
        console.print(f"  export {name}='{value}'")


def calls_table(running: Simulators) -> Table:
    table = Table(title="Calls answered", title_justify="left")
    for column, justify in (("vendor", "left"), ("route", "left"), ("status", "left"), ("calls", "right"),
                            ("items", "right")):
        table.add_column(column, justify=justify)
    for vendor, simulator in running.vendors.items():
        calls, items = Counter(), Counter()
        for call in simulator.calls:
            key = (call.route, "no answer" if call.status is None else str(call.status))
            calls[key] += 1
            items[key] += call.items
        for (route, status), count in sorted(calls.items()):
            table.add_row(vendor, route, status, str(count), str(items[(route, status)]))
    if not table.rows:
        table.add_row("-", "no call", "", "0", "0")
    return table
