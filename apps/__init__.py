"""Applications built from the layers: the `trendoff` command dispatcher and commands that compose layers."""
