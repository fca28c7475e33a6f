"""Cold start: how long each handler takes to import, against a bare `import boto3`.

The functions and the layer are built as `sam build` lays them out (tools/lambda_build.py) and
each import runs in a fresh Python 3.13 with Lambda's path and the template's environment, as
Lambda's init phase would (the interpreter's own start is left out: both sides pay it). Each
figure is the median of `--runs` processes. Left out: Lambda's sandbox and the code's download
(the same for any handler), and the first invocation's own work.

    .venv/bin/python bench/cold_start.py [--runs 15]

Last line: `cold_start: worst_handler=<name> import_ms=<X> boto3_only_ms=<Y> ratio=<X/Y>
worst_over_floor=<X/floor>`, with the layer's size, the package's own import time and a floor
printed above it, part by part: boto3 (every handler calls AWS), then Powertools with tracing
(`v6migrate.observability`: the logger, metrics and tracer every handler is wrapped in), then
pydantic's BaseModel (every handler validates its event with it). No handler can import faster
than that floor without moving the same work into its first invocation; each handler's line
says how far over it it is (goal: at most 1.15).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import lambda_build

TIMED = (
    "import time\nstarted = time.perf_counter()\n{statement}\nprint(time.perf_counter() - started)"
)


FLOOR = "import boto3, v6migrate.observability\nfrom pydantic import BaseModel, Field"


def median_ms(python: str, function: lambda_build.Function, out: Path, statement: str,
              runs: int) -> float:  # fmt: skip
    times = []
    for _ in range(runs):
        done = subprocess.run(
            lambda_build.import_command(python, function, out, TIMED.format(statement=statement)),
            env=lambda_build.lambda_environment(function, out),
            cwd=out / "functions" / function.logical_id,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        times.append(float(done.stdout.strip().splitlines()[-1]) * 1000)
    return statistics.median(times)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = lambda_build.find_python()
    if python is None:
        raise SystemExit(lambda_build.WHERE_TO_GET_IT)
    functions = lambda_build.functions()
    with tempfile.TemporaryDirectory(prefix="v6migrate-cold-start-") as work:
        out = lambda_build.build(Path(work), python)
        layer = out / "layer" / "python"
        package = _size(layer / "v6migrate") / 2**10
        print(f"layer: {_size(layer) / 2**20:.1f} MiB unzipped, {package:.0f} KiB of it the "
              "v6migrate package (bytecode included)")  # fmt: skip
        first = functions[0]
        boto3_ms = median_ms(python, first, out, "import boto3", args.runs)
        package_ms = median_ms(python, first, out, "import v6migrate.observability", args.runs)
        print(f"import boto3: {boto3_ms:.0f} ms; v6migrate.observability (Powertools, tracing): "
              f"{package_ms:.0f} ms")  # fmt: skip
        # what any handler that validates its input with pydantic pays before its own code,
        # measured part by part (each line adds one import to the one before)
        with_tools = median_ms(python, first, out, "import boto3, v6migrate.observability",
                               args.runs)  # fmt: skip
        floor_ms = median_ms(python, first, out, FLOOR, args.runs)
        tools_ms, pydantic_ms = with_tools - boto3_ms, floor_ms - with_tools
        print(f"floor, part by part: boto3 {boto3_ms:.0f} ms; + Powertools with tracing "
              f"{tools_ms:.0f} ms; + pydantic's BaseModel {pydantic_ms:.0f} ms; floor "
              f"{floor_ms:.0f} ms, ratio {floor_ms / boto3_ms:.2f} to boto3")  # fmt: skip
        module = {f.logical_id: f.handler.rsplit(".", 1)[0] for f in functions}
        timings = {}
        for function in functions:
            timings[function.logical_id] = median_ms(
                python, function, out, f"import {module[function.logical_id]}", args.runs
            )
            print(f"{function.logical_id}: {timings[function.logical_id]:.0f} ms, "
                  f"{timings[function.logical_id] / floor_ms:.2f} x the floor")  # fmt: skip
    worst = max(timings, key=lambda name: timings[name])
    print(f"cold_start: worst_handler={worst} import_ms={timings[worst]:.0f} "
          f"boto3_only_ms={boto3_ms:.0f} ratio={timings[worst] / boto3_ms:.2f} "
          f"worst_over_floor={timings[worst] / floor_ms:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
