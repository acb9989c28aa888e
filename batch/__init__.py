"""Batch layer: a Spark job regrouping the whole master table into per-user word counts (the batch view)."""
