"""Every bench in bench/ still runs: each is run in its smoke mode (a handful of iterations, no
figures asserted) against the suite's servers, so a broken bench fails the build."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(path.name for path in BENCH.glob("bench_*.py"))


def test_every_bench_is_covered():
    assert len(SCRIPTS) >= 7


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_bench_runs_in_smoke_mode(script):
    result = subprocess.run([sys.executable, str(BENCH / script), "--smoke"], cwd=BENCH.parent,
                            env={**os.environ, "BENCH_SMOKE": "1"}, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), f"{script} printed no figures"
