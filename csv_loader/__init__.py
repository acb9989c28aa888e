"""CSV loader: a Spark job bulk-loading a tweet CSV into the master table as history."""
