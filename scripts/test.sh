#!/usr/bin/env bash
# The test suite against real local servers (started on free loopback ports, stopped afterwards).
# Arguments go to pytest: `bash scripts/test.sh -k tenants -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh && exec .venv/bin/python -m devstack test -- .venv/bin/python -m pytest "$@"
