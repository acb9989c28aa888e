"""`python -m trendoff.csv_loader PATH` / spark-submit entry point: same as `trendoff load-csv`."""

import sys

from trendoff.csv_loader.job import main
from trendoff.entry import run_main

sys.exit(run_main(main, sys.argv[1:]))
