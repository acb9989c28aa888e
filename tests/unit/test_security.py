"""The security settings: checked together, read from files, and turned into each client's options."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from trendoff.clients import security
from trendoff.config import load_settings, secret_values
from trendoff.errors import TrendoffError
from trendoff.logs import configure_logging

SASL = {"TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TRENDOFF_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TRENDOFF_KAFKA_USERNAME": "pipeline", "TRENDOFF_KAFKA_PASSWORD": 'pa"ss\\word'}


def _ca(folder: Path) -> Path:
    from trendoff.stack.secure import SecureFiles, _make_certificates

    files = SecureFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.password_file("keystore").write_text("keystore-password\n")
    _make_certificates(files)
    return files.ca


@pytest.mark.parametrize(("environ", "words"), [
    ({"TRENDOFF_KAFKA_SECURITY_PROTOCOL": "TLS"}, "is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({**SASL, "TRENDOFF_KAFKA_SASL_MECHANISM": ""}, "SASL_SSL needs TRENDOFF_KAFKA_SASL_MECHANISM"),
    ({**SASL, "TRENDOFF_KAFKA_SASL_MECHANISM": "GSSAPI"}, "SASL_SSL needs TRENDOFF_KAFKA_SASL_MECHANISM"),
    ({**SASL, "TRENDOFF_KAFKA_PASSWORD": ""}, "needs TRENDOFF_KAFKA_USERNAME and TRENDOFF_KAFKA_PASSWORD"),
    ({"TRENDOFF_KAFKA_USERNAME": "u", "TRENDOFF_KAFKA_PASSWORD": "p"}, "=PLAINTEXT sends none"),
    ({"TRENDOFF_KAFKA_CA_FILE": "/etc/hostname"}, "does not use TLS"),
    ({"TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SSL", "TRENDOFF_KAFKA_CERT_FILE": "/etc/hostname"},
     "needs both TRENDOFF_KAFKA_CERT_FILE and TRENDOFF_KAFKA_KEY_FILE"),
    ({"TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SSL", "TRENDOFF_KAFKA_CA_FILE": "/nowhere/ca.pem"}, "no readable file"),
    ({"TRENDOFF_CASSANDRA_USERNAME": "u"}, "set both TRENDOFF_CASSANDRA_USERNAME and TRENDOFF_CASSANDRA_PASSWORD"),
    ({"TRENDOFF_CASSANDRA_CERT_FILE": "/etc/hostname", "TRENDOFF_CASSANDRA_KEY_FILE": "/etc/hostname"},
     "needs TLS"),
    ({"TRENDOFF_CASSANDRA_TLS": "maybe"}, "use true or false"),
    ({"TRENDOFF_KAFKA_PASSWORD": "p", "TRENDOFF_KAFKA_PASSWORD_FILE": "/etc/hostname"}, "not both"),
    ({"TRENDOFF_CASSANDRA_PASSWORD_FILE": "/nowhere/secret"}, "cannot read it"),
])
def test_settings_that_cannot_work_are_refused_in_one_line(environ: dict[str, str], words: str) -> None:
    with pytest.raises(TrendoffError) as refused:
        load_settings(environ)
    assert words in refused.value.message and "\n" not in refused.value.message


def test_passwords_come_from_files_without_their_newline(tmp_path: Path) -> None:
    (tmp_path / "kafka").write_text("from-a-file\n")
    (tmp_path / "cassandra").write_text("also-a-file\r\n")
    environ = {**SASL, "TRENDOFF_KAFKA_PASSWORD": "", "TRENDOFF_KAFKA_PASSWORD_FILE": str(tmp_path / "kafka"),
               "TRENDOFF_CASSANDRA_USERNAME": "u", "TRENDOFF_CASSANDRA_PASSWORD_FILE": str(tmp_path / "cassandra")}
    settings = load_settings(environ)
    assert (settings.kafka_password, settings.cassandra_password) == ("from-a-file", "also-a-file")
    assert "from-a-file" not in repr(settings) and "also-a-file" not in str(settings.describe())
    assert sorted(secret_values(environ)) == ["also-a-file", "from-a-file"]


def test_librdkafka_and_the_spark_kafka_source_get_the_same_login(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    settings = load_settings({**SASL, "TRENDOFF_KAFKA_CA_FILE": str(ca)})
    assert security.kafka_client_options(settings) == {
        "security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "pipeline",
        "sasl.password": 'pa"ss\\word', "ssl.ca.location": str(ca)}
    spark = security.spark_kafka_options(settings)
    assert spark["kafka.security.protocol"] == "SASL_SSL" and spark["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    # The JAAS value quotes the password, its quote and backslash escaped.
    assert spark["kafka.sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                               'username="pipeline" password="pa\\"ss\\\\word";')
    assert (spark["kafka.ssl.truststore.type"], spark["kafka.ssl.truststore.location"]) == ("PEM", str(ca))
    plain = load_settings({**SASL, "TRENDOFF_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                           "TRENDOFF_KAFKA_SASL_MECHANISM": "PLAIN"})
    assert security.spark_kafka_options(plain)["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required")
    assert security.kafka_client_options(load_settings({})) == {"security.protocol": "plaintext"}
    assert security.spark_kafka_options(load_settings({})) == {"kafka.security.protocol": "PLAINTEXT"}


def test_the_connector_gets_a_pkcs12_trust_store_holding_the_ca(tmp_path: Path) -> None:
    ca = _ca(tmp_path / "made")
    settings = load_settings({"TRENDOFF_CASSANDRA_USERNAME": "u", "TRENDOFF_CASSANDRA_PASSWORD": "p",
                              "TRENDOFF_CASSANDRA_CA_FILE": str(ca), "TRENDOFF_DATA_DIR": str(tmp_path / "run")})
    conf = security.spark_cassandra_conf(settings)
    assert conf["spark.cassandra.auth.username"] == "u" and conf["spark.cassandra.auth.password"] == "p"
    assert conf["spark.cassandra.connection.ssl.enabled"] == "true"
    store = Path(conf["spark.cassandra.connection.ssl.trustStore.path"])
    listed = subprocess.run([security.keytool(), "-list", "-keystore", str(store), "-storetype", "PKCS12",
                             "-storepass", security.TRUSTSTORE_PASSWORD], capture_output=True, text=True, check=True)
    assert "trustedCertEntry" in listed.stdout and "Your keystore contains 1 entry" in listed.stdout
    assert security.spark_cassandra_conf(settings) == conf, "made once per CA file, then reused"
    driver = security.cassandra_driver_options(settings)
    assert driver["ssl_context"].check_hostname and driver["auth_provider"].username == "u"
    assert security.spark_cassandra_conf(load_settings({})) == {} and security.cassandra_driver_options(
        load_settings({})) == {}


def test_passwords_given_as_files_are_redacted_from_every_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pw").write_text("file-secret-123\n")
    monkeypatch.setenv("TRENDOFF_CASSANDRA_PASSWORD_FILE", str(tmp_path / "pw"))
    configure_logging("DEBUG")
    try:
        logging.getLogger("some.library").debug("auth with %s", "file-secret-123")
        from trendoff.logs import redact_also

        redact_also(["made-later-456"])
        logging.getLogger("trendoff.stack").info("generated made-later-456")
    finally:
        configure_logging("INFO")
    err = capsys.readouterr().err
    assert "file-secret-123" not in err and "made-later-456" not in err and err.count("[redacted]") == 2
