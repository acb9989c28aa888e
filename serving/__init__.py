"""Serving layer: merges the batch view with the newer speed minutes and ranks the words two users share."""
