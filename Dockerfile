# The trendoff jobs for docker compose: Python 3.11, a Java 17 runtime for Spark, and the Spark
# connector jars fetched from Maven Central at build time (same poms as `trendoff setup`).
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/trendoff
COPY pyproject.toml README.md ./
COPY trendoff trendoff
COPY producer producer
COPY ingest ingest
COPY speed speed
COPY batch batch
COPY serving serving
COPY plotting plotting
COPY csv_loader csv_loader
COPY apps apps
COPY demo demo
COPY stack stack
COPY jvm jvm
RUN pip install --no-cache-dir . && TRENDOFF_HOME=/opt/trendoff trendoff setup spark
ENV TRENDOFF_HOME=/opt/trendoff
ENTRYPOINT ["trendoff"]
