"""`trendoff setup`: fetch the JVM jars (idempotent, quick when nothing changed)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from trendoff.config import load_settings
from trendoff.errors import TrendoffError
from trendoff.jars import JVM_PARTS, fetch_jars


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff setup", description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(JVM_PARTS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - set(JVM_PARTS))
    if unknown:
        raise TrendoffError("bad-part", f"unknown part {unknown[0]!r}: choose from {', '.join(JVM_PARTS)}")
    settings = load_settings()
    timings = fetch_jars(settings, tuple(args.parts) or JVM_PARTS)
    for part in args.parts or JVM_PARTS:
        took = f"fetched in {timings[part]:.1f} s" if part in timings else "up to date"
        print(f"{part:<10} {settings.downloads_dir / part}  ({took})")
    return 0
