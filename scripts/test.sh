#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole suite. The suite starts its own
# Kafka broker and Cassandra node on free ports (or uses TRENDOFF_KAFKA_BOOTSTRAP /
# TRENDOFF_CASSANDRA_HOSTS when both are set). Extra arguments go to pytest, e.g. -m unit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
