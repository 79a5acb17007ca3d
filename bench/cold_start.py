"""Cold start: how long each Lambda handler takes to import in a fresh interpreter, against a bare
`import boto3` (what any Python Lambda that talks to AWS pays) measured in the same run.

Each measurement is a new process, as a cold Lambda is: the import of `functions/<name>/app.py`
with the layer on the path and the environment the template gives the functions (dummy values: no
call is made at import). Median of REPEATS runs. Lambda runs python3.13 on its own CPUs: the
absolute numbers differ there, the ratio to boto3 is what carries over.
"""

from __future__ import annotations

import json
import sys
import time

from common import QUICK, REPO_ROOT, median, python_env, run_python, write_results

REPEATS = 3 if QUICK else 7
LAYER = REPO_ROOT / "layers" / "usersync"
FUNCTIONS = REPO_ROOT / "functions"

TIMED = """
import json, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
print(json.dumps({{"import_s": elapsed, "modules": len(sys.modules)}}))
"""

HANDLER = """
import importlib.util
sys.path[:0] = [{function!r}, {layer!r}]
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.handler)
"""

BASELINES = {
    "python (no import)": "pass",
    "import boto3": "import boto3",
    "import boto3 + one client": "import boto3\nboto3.client('sqs')",
}


def template_environment() -> dict[str, str]:
    """Every variable the template gives a function, with a dummy value of the right shape."""
    sys.path.insert(0, str(LAYER))
    from usersync_dev.local.stack import load_template

    template = load_template(REPO_ROOT / "template.yaml")
    variables = dict((template.get("Globals", {}).get("Function", {}).get("Environment") or {}).get("Variables") or {})
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            variables.update(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
    parameters = template.get("Parameters", {})
    env = {}
    for name, value in variables.items():
        if isinstance(value, dict) and value.get("Ref") in parameters and "Default" in parameters[value["Ref"]]:
            env[name] = str(parameters[value["Ref"]]["Default"])
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            env[name] = str(value)
        elif name.endswith("_URL"):
            env[name] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{name.lower()}"
        elif name == "DESTINATIONS_CONFIG":
            env[name] = "/usersync/destinations"
        elif name == "LOG_LEVEL":
            env[name] = "INFO"
        else:
            env[name] = f"usersync-{name.lower().replace('_', '-')}"
    return env


def lambda_environment() -> dict[str, str]:
    lambda_variables = {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "usersync-bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    }
    return python_env(**{**template_environment(), **lambda_variables})


def run_once(body: str, env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    output = run_python(TIMED.format(body=body), env)
    wall = time.perf_counter() - started
    return {**json.loads(output.strip().splitlines()[-1]), "process_s": wall}


def main() -> None:
    env = lambda_environment()
    targets = [(name, "baseline", body) for name, body in BASELINES.items()]
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        targets.append((app.parent.name, "handler",
                        HANDLER.format(function=str(app.parent), layer=str(LAYER), path=str(app))))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in targets}
    for _ in range(REPEATS):  # interleaved, so a busy moment of the machine hits every target alike
        for name, _, body in targets:
            runs[name].append(run_once(body, env))
    results = []
    for name, kind, _ in targets:
        measured = runs[name]
        results.append({
            "name": name, "kind": kind,
            "import_ms": round(median([r["import_s"] for r in measured]) * 1000, 1),
            "import_min_ms": round(min(r["import_s"] for r in measured) * 1000, 1),
            "process_ms": round(median([r["process_s"] for r in measured]) * 1000, 1),
            "modules": int(measured[0]["modules"]),
        })
    boto3_ms = next(r["import_ms"] for r in results if r["name"] == "import boto3")
    for result in results:
        result["vs_boto3"] = round(result["import_ms"] / boto3_ms, 2)
        print(f"{result['name']:<28} import {result['import_ms']:7.1f} ms  process {result['process_ms']:7.1f} ms  "
              f"{result['vs_boto3']:.2f}x boto3")
    write_results("cold_start", {
        "what": "median time to import each handler in a fresh interpreter (ms), with the process's whole "
                "wall time (interpreter start included)",
        "repeats": REPEATS, "baseline": "import boto3", "results": results,
    })


if __name__ == "__main__":
    main()
