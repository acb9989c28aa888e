"""`trendoff demo`: the whole pipeline on bundled real tweets (an application above the layers)."""
