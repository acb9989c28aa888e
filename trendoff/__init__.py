"""trendoff: compare how two Twitter/X accounts use words, live and over their whole history."""

__version__ = "0.1.0"
