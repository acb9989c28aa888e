"""The streaming runtime ingest and speed share: the job's life cycle, the micro-batch messages, the
state it resumes from, its progress tables, retention gaps and the failures a user can act on."""
