"""The Lambda zips, built once per test run (or reused: devstack.lambda_package caches by content)."""
from __future__ import annotations

import pytest

from devstack import lambda_package


@pytest.fixture(scope="session")
def built() -> dict[str, lambda_package.BuildResult]:
    return {stage: lambda_package.build(stage) for stage in lambda_package.stages()}


class _Unpacked(dict):
    def __init__(self, built):
        super().__init__()
        self._built = built

    def __missing__(self, stage):
        self[stage] = lambda_package.unpack(self._built[stage])
        return self[stage]


@pytest.fixture(scope="session")
def task_roots(built):
    """A stage's zip unpacked (on first use), as /var/task would hold it."""
    return _Unpacked(built)
