"""`python -m trendoff.serving A B`: same as `trendoff compare`."""

import sys

from trendoff.cli import run_main
from trendoff.compare_cmd import main

sys.exit(run_main(main, sys.argv[1:]))
