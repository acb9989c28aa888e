"""`python -m trendoff.serving A B`: serving's own command line (`trendoff compare` without the chart)."""

import sys

from trendoff.entry import run_main
from trendoff.serving.main import main

sys.exit(run_main(main, sys.argv[1:]))
