"""schemathesis fuzzes the live server from the schema it serves, as a tenant admin and as a viewer:
every check, every phase (examples, coverage, fuzzing, stateful), a fixed seed and a bounded number
of examples per operation, so a run is repeatable and takes a few minutes. Any failure fails the test.

The exceptions we keep, each with its reason, are in ``schemathesis.toml`` beside this file.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SEED = "20261205"
MAX_EXAMPLES = os.environ.get("CONTRACT_FUZZ_MAX_EXAMPLES", "10")


def fuzz(live_server, schema_file, token: str, report_dir: Path) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--no-color",
        "--config-file", str(HERE / "schemathesis.toml"),
        "run", str(schema_file), "--url", live_server.url,
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
        "--seed", SEED, "--max-examples", MAX_EXAMPLES,
        "--continue-on-failure",
        "--report", "junit", "--report-dir", str(report_dir),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=report_dir,
                          env={**os.environ, "NO_COLOR": "1"})


def _seed_catalogue(admin):
    client = admin.client()
    for index in range(3):
        created = client.post("/api/v1/products", {"sku": f"FUZZ-{index}", "name": f"Fuzz {index}",
                                                    "price": "9.99", "currency": "USD", "stock": 50}, format="json")
        assert created.status_code == 201, created.content


ARTIFACTS = HERE.parents[1] / "test-artifacts" / "schemathesis"


def _assert_passed(result: subprocess.CompletedProcess, role: str) -> None:
    """The whole output is kept under test-artifacts/schemathesis/ (git-ignored) to read after a run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{role}.txt").write_text(result.stdout + result.stderr)
    summary = result.stdout[-12000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary


@pytest.mark.timeout(1200)
def test_schemathesis_finds_nothing_as_a_tenant_admin(live_server, schema_file, tenant_a, tmp_path):
    _seed_catalogue(tenant_a.admin)
    _assert_passed(fuzz(live_server, schema_file, tenant_a.admin.id_token, tmp_path), "admin")


@pytest.mark.timeout(1200)
def test_schemathesis_finds_nothing_as_a_viewer(live_server, schema_file, tenant_a, viewer, tmp_path):
    _seed_catalogue(tenant_a.admin)
    _assert_passed(fuzz(live_server, schema_file, viewer.id_token, tmp_path), "viewer")
