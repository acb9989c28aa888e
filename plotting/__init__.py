"""Plotting: the grouped bar chart of a comparison."""
