"""Speed layer: a Spark Structured Streaming job writing per-user, per-minute word counts to Cassandra."""
