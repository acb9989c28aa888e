"""Client security in one place: Kafka SASL/TLS and Cassandra authentication/TLS for every client.

The settings (trendoff/settings.py, TRENDOFF_KAFKA_* and TRENDOFF_CASSANDRA_* security variables, checked
together by trendoff/config.py) say what a cluster asks for; each function here turns them into the
options of one kind of client:

- librdkafka (confluent-kafka: the producer, admin and probe consumers): :func:`kafka_client_options`
- the Spark Kafka source (the Java client, ``kafka.*`` source options): :func:`spark_kafka_options`
- the Python Cassandra driver: :func:`cassandra_driver_options`
- the Spark Cassandra Connector (``spark.cassandra.*``): :func:`spark_cassandra_conf`

Secrets never leave these options: no describe(), no repr, and trendoff/logs.py filters their values out
of every log record.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS, Settings

log = logging.getLogger(__name__)

# The JAAS login module of each mechanism, for the Java client (the Spark Kafka source).
_JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
# A trust store holds public certificates only: its password guards nothing secret, and a fixed one lets
# a store made by one command be read by the next.
TRUSTSTORE_PASSWORD = "trendoff-truststore"
# The connector offers only two RSA-key-exchange CBC suites unless told otherwise: no handshake with a node
# whose certificate is an EC one, or that (rightly) allows forward-secret suites only. These are the JDK's
# TLS 1.3 and ECDHE-GCM suites, for RSA and EC certificates alike.
CONNECTOR_CIPHER_SUITES = ",".join([
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
])
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def _var(name: str) -> str:
    return ENV_VARS[name]


def _problem(message: str) -> TrendoffError:
    return TrendoffError("bad-setting", message)


def kafka_client_options(settings: Settings) -> dict[str, str]:
    """librdkafka's security options (its names: security.protocol, sasl.*, ssl.*)."""
    options = {"security.protocol": settings.kafka_security_protocol.lower()}
    if settings.kafka_uses_sasl:
        options.update({"sasl.mechanism": settings.kafka_sasl_mechanism, "sasl.username": settings.kafka_username,
                        "sasl.password": settings.kafka_password})
    if settings.kafka_ca_file:
        options["ssl.ca.location"] = str(settings.kafka_ca_file)
    if settings.kafka_cert_file and settings.kafka_key_file:
        options["ssl.certificate.location"] = str(settings.kafka_cert_file)
        options["ssl.key.location"] = str(settings.kafka_key_file)
    return options


def _jaas_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spark_kafka_options(settings: Settings) -> dict[str, str]:
    """The Spark Kafka source's options: the Java client's settings, each prefixed ``kafka.``.

    Certificates go in as PEM (a type the Java client reads since Kafka 2.7): the CA file as the trust
    store, a client certificate and key inline, so no JKS file has to exist on the executors.
    """
    options = {"kafka.security.protocol": settings.kafka_security_protocol}
    if settings.kafka_uses_sasl:
        module = _JAAS_MODULES[settings.kafka_sasl_mechanism]
        options["kafka.sasl.mechanism"] = settings.kafka_sasl_mechanism
        options["kafka.sasl.jaas.config"] = (f"{module} required username={_jaas_quoted(settings.kafka_username)} "
                                             f"password={_jaas_quoted(settings.kafka_password)};")
    if settings.kafka_ca_file:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = str(settings.kafka_ca_file)
    if settings.kafka_cert_file and settings.kafka_key_file:
        options["kafka.ssl.keystore.type"] = "PEM"
        options["kafka.ssl.keystore.certificate.chain"] = settings.kafka_cert_file.read_text(encoding="utf-8")
        options["kafka.ssl.keystore.key"] = settings.kafka_key_file.read_text(encoding="utf-8")
    return options


def cassandra_driver_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of the Python driver's Cluster: an auth provider and an SSL context, when asked for."""
    from cassandra.auth import PlainTextAuthProvider

    options: dict[str, Any] = {}
    if settings.cassandra_username:
        options["auth_provider"] = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
    if settings.cassandra_encrypted:
        # Verifies the node's certificate and that it names the address connected to (the driver passes
        # the contact point as the server name when check_hostname is on).
        context = ssl.create_default_context(cafile=str(settings.cassandra_ca_file) if settings.cassandra_ca_file
                                             else None)
        if settings.cassandra_cert_file and settings.cassandra_key_file:
            context.load_cert_chain(str(settings.cassandra_cert_file), str(settings.cassandra_key_file))
        options["ssl_context"] = context
    return options


def spark_cassandra_conf(settings: Settings) -> dict[str, str]:
    """The Spark Cassandra Connector's settings. Its Java driver reads trust and key stores only (JKS or
    PKCS12), so the PEM files are turned into PKCS12 stores under the data folder."""
    conf: dict[str, str] = {}
    if settings.cassandra_username:
        conf["spark.cassandra.auth.username"] = settings.cassandra_username
        conf["spark.cassandra.auth.password"] = settings.cassandra_password
    if settings.cassandra_encrypted:
        conf["spark.cassandra.connection.ssl.enabled"] = "true"
        conf["spark.cassandra.connection.ssl.enabledAlgorithms"] = CONNECTOR_CIPHER_SUITES
        if settings.cassandra_ca_file:
            conf["spark.cassandra.connection.ssl.trustStore.path"] = str(java_truststore(settings))
            conf["spark.cassandra.connection.ssl.trustStore.password"] = TRUSTSTORE_PASSWORD
            conf["spark.cassandra.connection.ssl.trustStore.type"] = "PKCS12"
        if settings.cassandra_cert_file and settings.cassandra_key_file:
            path, password = java_keystore(settings)
            conf["spark.cassandra.connection.ssl.clientAuth.enabled"] = "true"
            conf["spark.cassandra.connection.ssl.keyStore.path"] = str(path)
            conf["spark.cassandra.connection.ssl.keyStore.password"] = password
            conf["spark.cassandra.connection.ssl.keyStore.type"] = "PKCS12"
    return conf


def _stores_folder(settings: Settings) -> Path:
    folder = settings.run_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def keytool() -> str:
    """The JDK's keytool, next to the java that runs the servers and Spark."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "keytool"] if java_home else []
    if found := shutil.which("keytool"):
        candidates.append(Path(found))
    if java := shutil.which("java"):
        candidates.append(Path(java).resolve().parent / "keytool")
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise TrendoffError("no-java", "no keytool found (it comes with Java 17): set JAVA_HOME")


def java_truststore(settings: Settings) -> Path:
    """A PKCS12 trust store holding every certificate of the Cassandra CA file (made once per content)."""
    assert settings.cassandra_ca_file is not None
    text = settings.cassandra_ca_file.read_text(encoding="utf-8")
    certificates = _PEM_CERTIFICATE.findall(text)
    if not certificates:
        raise _problem(f"{_var('cassandra_ca_file')}={str(settings.cassandra_ca_file)!r} holds no PEM certificate")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    store = _stores_folder(settings) / f"cassandra-truststore-{digest}.p12"
    if store.is_file():
        return store
    with tempfile.TemporaryDirectory(dir=store.parent) as work:
        partial = Path(work) / store.name
        for index, certificate in enumerate(certificates):
            pem = Path(work) / f"ca-{index}.pem"
            pem.write_text(certificate + "\n", encoding="utf-8")
            _run_keytool(["-importcert", "-noprompt", "-alias", f"ca-{index}", "-file", str(pem),
                          "-keystore", str(partial), "-storetype", "PKCS12", "-storepass", TRUSTSTORE_PASSWORD])
        partial.replace(store)  # whole or not at all: a command running at the same time never reads half
    return store


def java_keystore(settings: Settings) -> tuple[Path, str]:
    """A PKCS12 key store with the Cassandra client certificate and key, and its (generated) password."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    assert settings.cassandra_cert_file is not None and settings.cassandra_key_file is not None
    cert_pem, key_pem = settings.cassandra_cert_file.read_bytes(), settings.cassandra_key_file.read_bytes()
    digest = hashlib.sha256(cert_pem + key_pem).hexdigest()
    store, password = _stores_folder(settings) / f"cassandra-keystore-{digest[:16]}.p12", digest[16:48]
    if not store.is_file():
        certificates = x509.load_pem_x509_certificates(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        blob = pkcs12.serialize_key_and_certificates(
            b"client", key, certificates[0], certificates[1:] or None,  # type: ignore[arg-type]
            serialization.BestAvailableEncryption(password.encode()))
        partial = store.with_suffix(".partial")
        partial.write_bytes(blob)
        partial.chmod(0o600)
        partial.replace(store)
    return store, password


def _run_keytool(arguments: list[str]) -> None:
    done = subprocess.run([keytool(), *arguments], capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise TrendoffError("keytool", f"keytool {arguments[0]} failed: {(done.stdout + done.stderr).strip()[-500:]}")
