"""`python -m trendoff.csv_loader PATH` / spark-submit entry point: same as `trendoff load-csv`."""

import sys

from trendoff.cli import run_main
from trendoff.csv_loader.job import main

sys.exit(run_main(main, sys.argv[1:]))
