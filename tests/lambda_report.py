"""Lines the Lambda package tests add to the end of the pytest report (sizes, glibc, cold start)."""
import pytest

SUMMARY = pytest.StashKey[list]()


def add(config, line: str) -> None:
    config.stash.setdefault(SUMMARY, []).append(f"lambda package: {line}")
