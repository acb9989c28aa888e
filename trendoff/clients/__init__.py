"""The clients of the services: Kafka admin and offsets, Cassandra sessions and writes, the Spark session
and its jars, security options for each, leases and retries."""
