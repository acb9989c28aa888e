"""Producer: reads tweets from the X API, CSV and JSON-lines archives or a generator, and publishes them as Avro to Kafka."""
