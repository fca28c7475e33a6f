"""The wave's Report at scale: how long its reads of the clusters' runs take against Step
Functions' DescribeExecution bucket, and whether any fails.

The Report reads each child run once (`runs.described`, DescribeExecution), with the SDK's
adaptive retry mode (`aws.retries("adaptive")`); `--mode standard` shows what the standard
mode alone, which the other calls use, would do. Step Functions refuses
DescribeExecution past its bucket: 250 at 10 a second outside N. Virginia, Oregon and Ireland,
300 at 15 a second there (the developer guide's "Quotas"; `faults.SFN_BUCKETS`). The embedded
AWS answers with those buckets on, and botocore's back-off between retries passes on the
simulated clock, so `api_seconds` is the time the reads take as AWS would throttle them, not
this machine's. Left out: other callers spending the same bucket at the same time (an
operator's `GET /waves` polls spend none once the wave has ended; the interpreter's own polls
spend none), and the Lambda's own start.

    .venv/bin/python bench/report_reads.py [--clusters 800] [--region eu-central-1]

Last line: `report_reads: clusters=<N> region=<R> mode=<m> api_seconds=<s>
throttled_retries=<k> failed=<f>`; the wave function's timeout (600 s) is the limit that matters.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

from local import faults  # noqa: E402
from local.gaps.timing import CLOCK  # noqa: E402
from local.server import EmbeddedAws  # noqa: E402
from v6migrate import aws, runs  # noqa: E402


def measure(clusters: int, region: str, mode: str) -> dict[str, float]:
    with EmbeddedAws() as embedded:
        embedded.reset()
        sfn = embedded.session().client("stepfunctions", region_name=region,
                                        config=aws.retries(mode))  # fmt: skip
        machine = f"arn:aws:states:{region}:123456789012:stateMachine:v6migrate-migration"
        faults.buckets(True)
        try:
            began, real = CLOCK.now(), time.monotonic()
            failed = 0
            for n in range(clusters):  # never started: each read is still a DescribeExecution
                try:
                    runs.described(sfn, runs.execution_arn(machine, f"wave-{n:04d}"))
                except Exception as error:  # counted: a read the Report would fail on
                    failed += 1
                    if failed == 1:
                        print(f"report_reads: first failure {type(error).__name__}: {error}")
            return {"api_seconds": CLOCK.now() - began, "real_seconds": time.monotonic() - real,
                    "throttled_retries": faults.STATE.throttled, "failed": failed}  # fmt: skip
        finally:
            faults.buckets(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=800)
    parser.add_argument("--region", default="eu-central-1")
    parser.add_argument("--mode", default="adaptive", choices=("adaptive", "standard"),
                        help="the SDK's retry mode: the Report's, or standard")  # fmt: skip
    args = parser.parse_args()
    found = measure(args.clusters, args.region, args.mode)
    print(f"report_reads: provenance real_seconds={found['real_seconds']:.1f}")
    print(f"report_reads: clusters={args.clusters} region={args.region} mode={args.mode} "
          f"api_seconds={found['api_seconds']:.1f} "
          f"throttled_retries={int(found['throttled_retries'])} "
          f"failed={int(found['failed'])}")  # fmt: skip


if __name__ == "__main__":
    main()
