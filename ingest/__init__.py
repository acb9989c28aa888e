"""Ingest: a Spark Structured Streaming job landing every tweet from Kafka in the Cassandra master table."""
