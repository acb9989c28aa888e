"""THE tweet: its Avro schema (tweet.avsc) and codec, the limits every view needs, and how input rows
(CSV columns and presets, physical CSV records) become Tweet records (producer, ingest, csv_loader)."""
