# syntax=docker/dockerfile:1
# The trendoff jobs for docker compose: Python 3.11, a Java 17 runtime for Spark, and the Spark
# connector jars fetched from Maven Central at build time (same poms as `trendoff setup`).
# Layers from the least to the most often changed, so a code edit rebuilds only the last ones: the
# system packages, then the Python dependencies (pyspark alone is ~320 MB), then the code and jars.
FROM python:3.11-slim-bookworm
# tini as PID 1 passes `docker stop`'s SIGTERM on to trendoff (graceful stop) and reaps the JVMs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/trendoff trendoff
WORKDIR /opt/trendoff
COPY pyproject.toml ./
# Only the pinned dependencies of pyproject.toml: this layer changes when they do, not with the code.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt
COPY README.md ./
COPY jvm jvm
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
# Maven's cache in a build cache mount: a code edit refetches nothing.
RUN --mount=type=cache,target=/root/.m2 \
    pip install --no-cache-dir --no-deps . && TRENDOFF_HOME=/opt/trendoff trendoff setup spark
ENV TRENDOFF_HOME=/opt/trendoff \
    TRENDOFF_DATA_DIR=/var/lib/trendoff
USER trendoff
ENTRYPOINT ["tini", "--", "trendoff"]
