"""`trendoff stack up --secure` as a user runs it: the pipeline exact over SASL_SSL and Cassandra TLS with
logins, anonymous and plaintext clients refused, a wrong password or an untrusted CA one line and exit 2,
and no secret in any log of a DEBUG run."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, NoHostAvailable
from confluent_kafka import Consumer, KafkaException
from pyspark.sql import SparkSession

from tests.support import PROJECT_ROOT, expected_word_counts, free_port
from trendoff.producer.sources import csv_tweets
from trendoff.serving.compare import rank_mutual
from trendoff.tweets.columns import PRESETS

TRENDOFF = [sys.executable, "-m", "trendoff.apps.cli"]
ROWS = 100


@dataclass
class SecureStack:
    env: dict[str, str]  # the environment with run/secure/env applied, as after `. run/secure/env`
    run_dir: Path
    outputs: list[str] = field(default_factory=list)  # everything the commands printed, for the secret grep

    def run(self, args: list[str], env: dict[str, str] | None = None, timeout: float = 600
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*TRENDOFF, *args], env=env or self.env, cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=timeout, check=False)
        self.outputs += [done.stdout, done.stderr]
        return done

    @property
    def secrets(self) -> list[str]:
        return [path.read_text().strip() for path in (self.run_dir / "secure").glob("*-password")]

    @property
    def ca(self) -> str:
        return self.env["TRENDOFF_KAFKA_CA_FILE"]


def sourced(env_file: Path, base: dict[str, str]) -> dict[str, str]:
    """What a shell has after sourcing ``env_file`` (its lines are `export NAME=value`)."""
    env = dict(base)
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            name, value = shlex.split(line[len("export "):])[0].split("=", 1)
            env[name] = value
    return env


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    run_dir = tmp_path_factory.mktemp("secure") / "run"
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRENDOFF_")}
    base.update(TRENDOFF_DATA_DIR=str(run_dir), TRENDOFF_KAFKA_PORT=str(free_port()),
                TRENDOFF_KAFKA_CONTROLLER_PORT=str(free_port()), TRENDOFF_CASSANDRA_PORT=str(free_port()),
                TRENDOFF_CASSANDRA_STORAGE_PORT=str(free_port()), TRENDOFF_STARTUP_TIMEOUT_SECONDS="240",
                TRENDOFF_LOG_LEVEL="DEBUG")
    stack = SecureStack(base, run_dir)
    try:
        up = stack.run(["stack", "up", "--secure"], timeout=420)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "secured: run `." in up.stdout
        secure = run_dir / "secure"
        assert secure.stat().st_mode & 0o777 == 0o700 and (secure / "env").stat().st_mode & 0o777 == 0o600
        stack.env = sourced(secure / "env", base)
        yield stack
    finally:
        stack.run(["stack", "down"], env=base, timeout=120)


def test_the_pipeline_is_exact_on_the_secured_stack(secure_stack: SecureStack, spark: SparkSession,
                                                    data_dir: Path, tmp_path: Path) -> None:
    raw = []
    for name in ("BarackObama.csv", "realDonaldTrump.csv"):
        raw += [tweet for _, tweet in csv_tweets(data_dir / "fivethirtyeight_twitter_ratio" / name,
                                                 PRESETS["538"])][:ROWS]
    counts = expected_word_counts(spark, raw)
    expected = [{"word": m.word, "counts": [m.count_a, m.count_b]}
                for m in rank_mutual(counts["barackobama"], counts["realdonaldtrump"], top=15)]

    demo = secure_stack.run(["demo", "--rows-per-file", str(ROWS), "--top", "15", "--json", "--keep-stack",
                             "--out-dir", str(tmp_path / "out")])
    assert demo.returncode == 0, demo.stderr[-3000:]
    answer = json.loads(next(line for line in demo.stdout.splitlines() if line.startswith("{")))
    assert answer["as_of"] is not None and answer["top"] == expected

    compare = secure_stack.run(["compare", "BarackObama", "realDonaldTrump", "--top", "15", "--json"])
    assert compare.returncode == 0, compare.stderr[-2000:]
    assert json.loads(compare.stdout)["top"] == expected
    status = secure_stack.run(["status", "--json"])
    assert status.returncode == 0, status.stderr[-2000:]


def test_anonymous_and_plaintext_clients_are_refused(secure_stack: SecureStack) -> None:
    env = secure_stack.env
    kafka = f"127.0.0.1:{env['TRENDOFF_KAFKA_PORT']}"
    controller = f"127.0.0.1:{env['TRENDOFF_KAFKA_CONTROLLER_PORT']}"
    anonymous = [{"bootstrap.servers": kafka},  # plaintext
                 {"bootstrap.servers": kafka, "security.protocol": "ssl", "ssl.ca.location": secure_stack.ca},
                 {"bootstrap.servers": controller},  # the controller listener takes the broker's certificate only
                 {"bootstrap.servers": controller, "security.protocol": "ssl", "ssl.ca.location": secure_stack.ca}]
    for config in anonymous:
        consumer = Consumer({**config, "group.id": "anonymous", "socket.timeout.ms": 3000, "log_level": 0})
        try:
            with pytest.raises(KafkaException):
                consumer.list_topics(timeout=6)
        finally:
            consumer.close()

    port = int(env["TRENDOFF_CASSANDRA_PORT"])
    plaintext = Cluster(["127.0.0.1"], port=port, protocol_version=5, connect_timeout=5)
    with pytest.raises(NoHostAvailable):
        plaintext.connect()
    plaintext.shutdown()
    no_login = {k: v for k, v in env.items() if not k.startswith("TRENDOFF_CASSANDRA_USERNAME")
                and not k.startswith("TRENDOFF_CASSANDRA_PASSWORD")}
    refused = secure_stack.run(["compare", "a", "b"], env=no_login)
    assert refused.returncode == 2 and "refused the login: no credentials given" in refused.stderr


def _another_ca(folder: Path) -> Path:
    """A CA certificate that did not sign the stack's: a client trusting only it must refuse the servers."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the stack's CA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    path = folder / "other-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _one_line_failure(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert words in done.stderr.strip().splitlines()[-1]


def test_a_wrong_password_or_an_untrusted_ca_is_one_line_and_exit_2(secure_stack: SecureStack,
                                                                   tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    quiet = {**secure_stack.env, "TRENDOFF_LOG_LEVEL": "INFO"}
    produce = ["produce", "synthetic", "--tweets", "5", "--users", "2"]

    bad_kafka = {**quiet, "TRENDOFF_KAFKA_PASSWORD_FILE": str(wrong)}
    _one_line_failure(secure_stack.run(produce, env=bad_kafka, timeout=120), "refused the connection")
    bad_cassandra = {**quiet, "TRENDOFF_CASSANDRA_PASSWORD_FILE": str(wrong)}
    _one_line_failure(secure_stack.run(["compare", "a", "b"], env=bad_cassandra, timeout=120),
                      "refused the login: the credentials were refused")

    other = str(_another_ca(tmp_path))
    _one_line_failure(secure_stack.run(produce, env={**quiet, "TRENDOFF_KAFKA_CA_FILE": other}, timeout=120),
                      "refused the connection")
    _one_line_failure(secure_stack.run(["compare", "a", "b"], env={**quiet, "TRENDOFF_CASSANDRA_CA_FILE": other},
                                       timeout=120), "TLS failed")


def test_no_secret_in_any_log_of_a_debug_run(secure_stack: SecureStack) -> None:
    # Its own DEBUG run of each kind of client (librdkafka, the Python driver, Spark's Kafka source and
    # connector), whatever else ran before; the other tests' output, when they ran, is searched too.
    for command in (["produce", "synthetic", "--tweets", "20", "--users", "2"], ["ingest", "--until-idle"],
                    ["speed", "--until-idle"], ["batch"], ["compare", "user00000", "user00001"], ["status", "--json"]):
        done = secure_stack.run(command)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    printed = "\n".join(secure_stack.outputs)
    assert " DEBUG " in printed, "the commands logged at DEBUG"
    server_logs = [path for path in secure_stack.run_dir.rglob("*")
                   if path.is_file() and (path.suffix == ".log" or path.parent.name == "logs")]
    assert len(server_logs) >= 2, "Kafka's and Cassandra's logs"
    texts = [printed] + [path.read_text(errors="replace") for path in server_logs]
    assert len(secure_stack.secrets) == 4
    for secret in secure_stack.secrets:
        assert not any(secret in text for text in texts), "a secret reached a log"
