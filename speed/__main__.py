"""`python -m trendoff.speed` / spark-submit entry point: same as `trendoff speed`."""

import sys

from trendoff.entry import run_main
from trendoff.speed.job import main

sys.exit(run_main(main, sys.argv[1:]))
