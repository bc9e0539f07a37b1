"""Lambda cold start measured locally: a new process imports Zappa's handler and the Django app
and serves its first request (GET /health) through ``lambda_handler``; target median <= 1.0 s.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_cold_start.py
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

from _common import setup_django

setup_django()

from devstack import lambda_local  # noqa: E402
from saas.tenancy import tables  # noqa: E402

RUNS = 9


def main() -> None:
    stage = json.loads((lambda_local.ROOT / "zappa_settings.json").read_text())["dev"]
    tables.ensure_table(stage["environment_variables"]["DYNAMODB_TABLE"])
    settings_file = lambda_local.write_settings("dev", Path(tempfile.mkdtemp(prefix="zappa-bench-")))
    env = lambda_local.lambda_env(DJANGO_SECRET_KEY="bench-only",
                                  DJANGO_ALLOWED_HOSTS="abc123.execute-api.us-east-1.amazonaws.com",
                                  DYNAMODB_ENDPOINT_URL=os.environ["DYNAMODB_ENDPOINT_URL"],
                                  AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    inside, wall = [], []
    for _ in range(RUNS):
        result = lambda_local.invoke(lambda_local.api_gateway_event("/health"), settings_dir=settings_file.parent,
                                     env=env, read_only=False)
        assert result["response"]["statusCode"] == 200, result["stderr"][-1000:]
        inside.append(result["seconds"])
        wall.append(result["wall_seconds"])
    print(f"cold start over {RUNS} runs: import + first request median {statistics.median(inside):.3f} s "
          f"(min {min(inside):.3f}, max {max(inside):.3f}); whole process incl. interpreter start "
          f"median {statistics.median(wall):.3f} s")


if __name__ == "__main__":
    main()
