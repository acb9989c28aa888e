"""`python -m trendoff.plotting FILE.json --out chart.png`: same as `trendoff plot`."""

import sys

from trendoff.plotting.main import main

from trendoff.cli import run_main

sys.exit(run_main(main, sys.argv[1:]))
