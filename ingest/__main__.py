"""`python -m trendoff.ingest` / spark-submit entry point: same as `trendoff ingest`."""

import sys

from trendoff.entry import run_main
from trendoff.ingest.job import main

sys.exit(run_main(main, sys.argv[1:]))
