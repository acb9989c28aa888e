"""`python -m trendoff.plotting FILE.json --out chart.png`: same as `trendoff plot`."""

import sys

from trendoff.entry import run_main
from trendoff.plotting.main import main

sys.exit(run_main(main, sys.argv[1:]))
