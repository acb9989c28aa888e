"""`python -m trendoff.producer ...` (and spark-submit-free cluster use): same as `trendoff produce`."""

import sys

from trendoff.entry import run_main
from trendoff.producer.main import main

sys.exit(run_main(main, sys.argv[1:]))
