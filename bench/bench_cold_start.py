"""Cold start of the *built* Lambda package: a fresh interpreter that sees only the unzipped package
(read-only, ``.pyc`` shipped, secrets resolved from SSM / Secrets Manager by reference) imports
Zappa's handler and the Django app and answers its first request (GET /health). Target: median
<= 0.40 s. The dev and prod packages are measured interleaved in shuffled order.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_cold_start.py [--runs N] [--importtime] [--path P]

``--importtime`` also runs one cold start under ``-X importtime`` and prints the slowest imports;
``--path`` measures another first request (e.g. ``/api/v1/products``, answered 401 without a token).
"""
from __future__ import annotations

import argparse
import random
import re
import statistics

from _common import SMOKE, setup_django

setup_django()

from devstack import iam, lambda_local, lambda_package  # noqa: E402
from saas import aws  # noqa: E402
from saas.tenancy import tables  # noqa: E402

STAGES = ("dev", "prod")


def prepare(stage: str):
    tables.ensure_table(iam.stage_names(stage)["DYNAMODB_TABLE"])
    lambda_local.publish_stage_configuration(stage, ssm=aws.client("ssm"), secretsmanager=aws.client("secretsmanager"))
    return lambda_package.unpack(lambda_package.build(stage))


def slowest_imports(task_root, env, top: int = 15) -> list[tuple[int, str]]:
    outcome = lambda_local.invoke_many([lambda_local.api_gateway_event("/health")], task_root=task_root, env=env,
                                       handler=lambda_local.configured_handler("dev"), python_args=("-X", "importtime"))
    rows = []
    for line in outcome["stderr"].splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[2]), len(match[3]), match[4]))
    # top-level-ish packages by cumulative time
    return sorted(((us, name) for us, depth, name in rows if depth <= 3), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="one run per stage (the suite's check)")
    parser.add_argument("--path", default="/health", help="the first request's path (GET; /health is the target's)")
    args = parser.parse_args()
    if args.smoke or SMOKE:
        args.runs = 1
    roots = {stage: prepare(stage) for stage in STAGES}
    env = lambda_local.local_endpoints()
    inside: dict[str, list[float]] = {s: [] for s in STAGES}
    wall: dict[str, list[float]] = {s: [] for s in STAGES}
    cpu: dict[str, list[float]] = {s: [] for s in STAGES}  # CPU time: what a busy machine does not inflate
    order = [s for _ in range(args.runs) for s in STAGES]
    random.shuffle(order)
    for stage in order:
        outcome = lambda_local.invoke_many([lambda_local.api_gateway_event(args.path)], task_root=roots[stage],
                                           env=env, handler=lambda_local.configured_handler(stage), read_only=True)
        first = outcome["results"][0]
        status = first["response"]["statusCode"]
        assert status == 200 if args.path == "/health" else status < 500, outcome["stderr"][-1000:]
        inside[stage].append(first["seconds"])
        cpu[stage].append(first["cpu_seconds"])
        wall[stage].append(outcome["wall_seconds"])
    for stage in STAGES:
        print(f"{stage}: built package cold start over {args.runs} runs (import + first request GET {args.path}, "
              f"answered {status}, read-only): "
              f"median {statistics.median(inside[stage]):.3f} s (min {min(inside[stage]):.3f}, "
              f"max {max(inside[stage]):.3f}); CPU time of the process by then: median "
              f"{statistics.median(cpu[stage]):.3f} s; whole process incl. interpreter start and sandbox "
              f"median {statistics.median(wall[stage]):.3f} s")
    if args.importtime:
        print("slowest imports (cumulative µs, dev package):")
        for us, name in slowest_imports(roots["dev"], env):
            print(f"  {us:>9}  {name}")


if __name__ == "__main__":
    main()
