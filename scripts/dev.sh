#!/usr/bin/env bash
# The whole product locally: servers on 127.0.0.1, tables, demo data, web on :8000, Celery.
# Ctrl-C stops everything. Another terminal: `source .stack/env`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh && exec .venv/bin/python -m devstack up
