"""`python -m trendoff.producer ...` (and spark-submit-free cluster use): same as `trendoff produce`."""

import sys

from trendoff.producer.main import main

from trendoff.cli import run_main

sys.exit(run_main(main, sys.argv[1:]))
