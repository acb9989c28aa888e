"""The two servers of the local stack: a KRaft Kafka broker and a Cassandra node, from Maven Central jars."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from trendoff.clients import cassandra_io, topics
from trendoff.errors import TrendoffError
from trendoff.stack import secure
from trendoff.stack.process import LocalService, port_open, read_options, render_template

log = logging.getLogger(__name__)


class KafkaBroker(LocalService):
    """A single-node KRaft broker+controller (kafka.Kafka) with its storage formatted on first start."""

    name = "kafka"
    main_class = "kafka.Kafka"

    @property
    def properties_file(self) -> Path:
        return self.run_dir / "server.properties"

    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    def prepare(self, java: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        render_template(
            self.config_dir / "server.properties",
            self.properties_file,
            {
                "kafka_port": str(self.settings.kafka_port),
                "controller_port": str(self.settings.kafka_controller_port),
                "data_dir": str(self.run_dir / "data"),
                "listener": "SASL_SSL" if self.secure else "PLAINTEXT",
                "controller_protocol": "SSL" if self.secure else "PLAINTEXT",
            },
        )
        if self.secure:
            extra = "".join(f"{key}={value}\n" for key, value in secure.kafka_properties(self.settings).items())
            with self.properties_file.open("a", encoding="utf-8") as properties:
                properties.write("# --secure (stack/secure.py)\n" + extra)
            self.properties_file.chmod(0o600)
        cluster_id_file = self.run_dir / "cluster.id"
        if not cluster_id_file.is_file():
            # Kafka's cluster id is a URL-safe base64 UUID without padding.
            cluster_id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())
        formatted = subprocess.run(
            [
                java,
                "-Xmx256m",
                "-cp",
                self.classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id_file.read_text().strip(),
                "-c",
                str(self.properties_file),
                "--ignore-formatted",
                *(secure.scram_arguments(self.settings) if self.secure else []),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if formatted.returncode != 0:
            raise TrendoffError(
                "kafka-format",
                f"formatting Kafka storage in {self.run_dir / 'data'} failed",
                detail=(formatted.stdout + formatted.stderr)[-3000:],
            )

    def jvm_arguments(self) -> list[str]:
        heap = self.settings.kafka_heap_mb
        return [
            f"-Xms{heap}m",
            f"-Xmx{heap}m",
            *read_options(self.config_dir / "jvm.options"),
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
        ]

    def main_args(self) -> list[str]:
        return [str(self.properties_file)]

    def probe(self) -> bool:
        if not port_open(self.settings.kafka_port):
            return False
        try:
            topics.wait_for_broker(self.settings, timeout_seconds=2.0)
        except TrendoffError:
            return False
        return True


class CassandraNode(LocalService):
    """One Cassandra 5.0 node (CassandraDaemon) configured from jvm/cassandra/."""

    name = "cassandra"
    main_class = "org.apache.cassandra.service.CassandraDaemon"

    def ports(self) -> list[int]:
        return [self.settings.cassandra_port, self.settings.cassandra_storage_port]

    def prepare(self, java: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        render_template(
            self.config_dir / "cassandra.yaml",
            self.run_dir / "cassandra.yaml",
            {
                "storage_port": str(self.settings.cassandra_storage_port),
                "cql_port": str(self.settings.cassandra_port),
                "data_dir": str(self.run_dir / "data"),
            },
        )
        if self.secure:
            config = self.run_dir / "cassandra.yaml"
            with config.open("a", encoding="utf-8") as yaml_file:
                yaml_file.write(secure.cassandra_yaml(self.settings))
            config.chmod(0o600)

    def jvm_arguments(self) -> list[str]:
        heap = self.settings.cassandra_heap_mb
        return [
            f"-Xms{heap}m",
            f"-Xmx{heap}m",
            *read_options(self.config_dir / "jvm17.options"),
            # The built-in superuser is made at once (not 10 s after start), for secure.provision_cassandra_role.
            *(["-Dcassandra.superuser_setup_delay_ms=0"] if self.secure else []),
            f"-Dcassandra.config=file://{self.run_dir / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={self.run_dir / 'data'}",
            f"-Dcassandra.logdir={self.run_dir / 'logs'}",
            f"-Dlogback.configurationFile={self.config_dir / 'logback.xml'}",
        ]

    def probe(self) -> bool:
        if not port_open(self.settings.cassandra_port):
            return False
        try:
            session = cassandra_io.connect(self.settings, timeout_seconds=3.0)
        except TrendoffError as error:
            # Secured: a refused login is an answer (trendoff's role is made once the node is up).
            return self.secure and error.reason == "cassandra-auth"
        try:
            return session.execute("SELECT release_version FROM system.local").one() is not None
        except Exception:  # the node may still be finishing start-up; the next probe tells
            return False
        finally:
            session.cluster.shutdown()
