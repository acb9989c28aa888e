"""`python -m trendoff.batch` / spark-submit entry point: same as `trendoff batch`."""

import sys

from trendoff.batch.job import main
from trendoff.entry import run_main

sys.exit(run_main(main, sys.argv[1:]))
