"""The local stack (a dev tool above the layers): Kafka and Cassandra as JVM processes, `trendoff setup`."""
