"""Producer: reads tweets (X API, CSV and JSON-lines archives, a generator) and publishes them as Avro to Kafka."""
