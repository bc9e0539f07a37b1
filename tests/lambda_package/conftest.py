"""The Lambda zips, built once per test run (or reused: devstack.lambda_package caches by content)."""
from __future__ import annotations

import pytest

from devstack import lambda_package


@pytest.fixture(scope="session")
def built() -> dict[str, lambda_package.BuildResult]:
    return {stage: lambda_package.build(stage) for stage in lambda_package.stages()}


@pytest.fixture(scope="session")
def task_roots(built):
    """Each stage's zip unpacked, as /var/task would hold it."""
    return {stage: lambda_package.unpack(result) for stage, result in built.items()}
