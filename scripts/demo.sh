#!/usr/bin/env bash
# The README's demo command: set up (idempotent), then run the whole pipeline on the bundled real
# tweets with `trendoff demo` (options go to it: ./scripts/demo.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/trendoff demo "$@"
