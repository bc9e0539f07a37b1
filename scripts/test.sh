#!/usr/bin/env bash
# The test command: lint (ruff, the import-linter layer contracts, mypy), then the test suite against
# real local servers (started on free loopback ports, stopped afterwards). Arguments go to pytest:
# `bash scripts/test.sh -k tenants -x`. `bash scripts/test.sh -m "not integration"` runs the pure
# tests only, with no server started. Configuration: pyproject.toml; layers: docs/ARCHITECTURE.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh

echo "lint: ruff check" >&2
.venv/bin/ruff check --quiet .
echo "lint: import-linter (lint-imports)" >&2
report=$(mktemp)
.venv/bin/lint-imports --no-cache >"$report" 2>&1 || { cat "$report" >&2; rm -f "$report"; exit 1; }
grep -E "^Contracts: " "$report" >&2 || true
rm -f "$report"
echo "lint: mypy" >&2
# Incremental (about a second when little changed). The django-stubs plugin reads the settings' types
# once and does not recheck the modules that use them when the settings change, so the cache is kept
# per version of the settings and of the configuration (a change starts a fresh cache: a cold run).
mypy_key=$(cat pyproject.toml requirements-dev.txt $(find saas -path '*settings*' -name '*.py' | sort) | sha256sum | cut -c1-16)
find .mypy_cache -mindepth 1 -maxdepth 1 -type d ! -name "$mypy_key" -exec rm -rf {} + 2>/dev/null || true
.venv/bin/mypy --cache-dir ".mypy_cache/$mypy_key" || {
    echo "FAILED: mypy found type errors (above; configuration: [tool.mypy] in pyproject.toml)" >&2; exit 1; }

pure_only=0
for arg in "$@"; do
    [ "$arg" = "not integration" ] && pure_only=1
done
if [ "$pure_only" = 1 ]; then
    # No server: the pure tests need only Django's settings for a local run.
    rc=0
    SAAS_LOCAL_STACK=1 .venv/bin/python -m pytest "$@" || rc=$?
    [ "$rc" = 5 ] && echo "FAILED: pytest collected no tests (exit code 5)" >&2
    exit "$rc"
fi
exec .venv/bin/python -m devstack test -- .venv/bin/python -m pytest "$@"
