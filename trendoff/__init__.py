"""trendoff: compare how two Twitter/X accounts use words, live and over their whole history.

This package is the core every layer shares. Its own modules are the foundation (settings, config,
errors, times, logs, entry, failpoints); the rest is in four rooms, each importing only those before it:
views/ (the word rule, user keys, the published batch row, the DDL), tweets/ (the tweet and its limits),
clients/ (Kafka, Cassandra, Spark) and streaming/ (the runtime of the streaming jobs). The layers
(producer, ingest, speed, batch, serving, plotting, csv_loader) are installed beside them as
trendoff.<layer>.
"""

__version__ = "0.1.0"
