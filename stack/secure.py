"""`trendoff stack up --secure`: the local broker and node with logins and TLS, as a secured cluster has.

Kafka gets a SASL_SSL listener (SCRAM-SHA-512; the users are added when its storage is formatted) and a
controller listener that takes only clients with a certificate of the local CA; Cassandra gets
PasswordAuthenticator and client encryption. Everything is made here, at the first start, on this
machine: a CA and a server certificate for 127.0.0.1 (the CA's key is thrown away once it has signed),
random passwords, all under run/secure/ (mode 700). run/secure/env holds the `export` lines that point
every trendoff command at the secured stack.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from trendoff import logs
from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS, FILE_SUFFIX, Settings

log = logging.getLogger(__name__)

USER = "trendoff"
# Kafka's own user: the broker logs in as it to reach itself (inter-broker traffic is SASL_SSL too).
KAFKA_ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
# Cassandra's built-in superuser: used once to create trendoff's role, then locked.
CASSANDRA_DEFAULT = ("cassandra", "cassandra")
CERTIFICATE_DAYS = 825


@dataclass(frozen=True)
class SecureFiles:
    """What run/secure/ holds."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.folder / "server.p12"

    @property
    def env(self) -> Path:
        return self.folder / "env"

    def password_file(self, name: str) -> Path:
        return self.folder / f"{name}-password"

    def password(self, name: str) -> str:
        return self.password_file(name).read_text(encoding="utf-8").strip()


def secure_files(settings: Settings) -> SecureFiles:
    return SecureFiles(settings.run_dir / "secure")


def is_secured(settings: Settings) -> bool:
    """True when this data folder's stack was made with --secure (its data takes logins from now on)."""
    return secure_files(settings).keystore.is_file()


def prepare(settings: Settings) -> Settings:
    """Make the certificates and passwords once, write run/secure/env, and return settings that use them."""
    files = secure_files(settings)
    files.folder.mkdir(parents=True, exist_ok=True)
    files.folder.chmod(0o700)
    for name in ("kafka", "kafka-admin", "cassandra", "keystore"):
        path = files.password_file(name)
        if not path.is_file():
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(20) + "\n", encoding="utf-8")
    if not files.keystore.is_file():
        _make_certificates(files)
    secured = client_settings(settings)
    _write_env(secured, files)
    return secured


def client_settings(settings: Settings) -> Settings:
    """``settings`` with the client side of the secured stack: its users, passwords and CA."""
    files = secure_files(settings)
    logs.redact_also([files.password(name) for name in ("kafka", "kafka-admin", "cassandra", "keystore")])
    return settings.with_overrides(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=MECHANISM, kafka_username=USER,
        kafka_password=files.password("kafka"), kafka_ca_file=files.ca, cassandra_username=USER,
        cassandra_password=files.password("cassandra"), cassandra_tls=True, cassandra_ca_file=files.ca,
    )


def settings_for_stack(settings: Settings, asked: bool) -> Settings:
    """The settings `trendoff stack` runs with: secured when asked (--secure) or when this data folder's
    stack was made secured (its data has logins: a plain start would leave every client locked out)."""
    if settings.kafka_external or settings.cassandra_external:
        if asked:
            raise TrendoffError("bad-usage", "--secure makes the local stack; external services bring their own "
                                "security (see the TRENDOFF_KAFKA_* and TRENDOFF_CASSANDRA_* security settings)")
        return settings
    if is_secured(settings):
        if not asked:
            log.info("the stack in %s was made with --secure: it stays secured", settings.run_dir)
        return prepare(settings)
    if not asked:
        return settings
    made_plain = [name for name in ("kafka", "cassandra") if (settings.run_dir / name / "data").exists()]
    if made_plain:
        raise TrendoffError("stack-not-secure", f"the {' and '.join(made_plain)} data in {settings.run_dir} was made "
                            "without --secure (it has no users): `trendoff stack down --wipe` first")
    return prepare(settings)


def _make_certificates(files: SecureFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # a little slack for clocks
    until = now + dt.timedelta(days=CERTIFICATE_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trendoff local CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trendoff local stack")]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              # clientAuth too: the broker presents this certificate to its own controller listener.
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    password = files.password("keystore").encode()
    keystore = pkcs12.serialize_key_and_certificates(b"server", server_key, server, [ca],
                                                     serialization.BestAvailableEncryption(password))
    partial = files.keystore.with_suffix(".partial")
    partial.touch(mode=0o600)
    partial.write_bytes(keystore)
    partial.replace(files.keystore)  # written last: its presence means the folder is complete
    log.info("made a local CA and a certificate for 127.0.0.1 in %s", files.folder)


def _write_env(settings: Settings, files: SecureFiles) -> None:
    """`export` lines for a shell: the security settings (passwords as _FILE) and where the stack is."""
    values = {
        "kafka_security_protocol": settings.kafka_security_protocol,
        "kafka_sasl_mechanism": settings.kafka_sasl_mechanism,
        "kafka_username": settings.kafka_username,
        "kafka_ca_file": str(files.ca),
        "cassandra_username": settings.cassandra_username,
        "cassandra_tls": "true",
        "cassandra_ca_file": str(files.ca),
        "data_dir": str(settings.run_dir),
        "kafka_port": str(settings.kafka_port),
        "kafka_controller_port": str(settings.kafka_controller_port),
        "cassandra_port": str(settings.cassandra_port),
        "cassandra_storage_port": str(settings.cassandra_storage_port),
    }
    lines = ["# trendoff's secured local stack: `. run/secure/env` (or source this file) before trendoff commands."]
    lines += [f"export {ENV_VARS[name]}={shlex.quote(value)}" for name, value in values.items()]
    lines += [f"export {ENV_VARS['kafka_password']}{FILE_SUFFIX}={shlex.quote(str(files.password_file('kafka')))}",
              f"export {ENV_VARS['cassandra_password']}{FILE_SUFFIX}="
              f"{shlex.quote(str(files.password_file('cassandra')))}"]
    files.env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files.env.chmod(0o600)


def kafka_properties(settings: Settings) -> dict[str, str]:
    """What server.properties adds for the secured broker (the listener names come from the template)."""
    files = secure_files(settings)
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{KAFKA_ADMIN}" '
            f'password="{files.password("kafka-admin")}";')
    keystore_password = files.password("keystore")
    return {
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(files.keystore),
        "ssl.keystore.password": keystore_password,
        "ssl.key.password": keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.ca),
        # Only the broker itself (its certificate) may use the controller listener.
        "listener.name.controller.ssl.client.auth": "required",
    }


def scram_arguments(settings: Settings) -> list[str]:
    """StorageTool's --add-scram arguments: the users the broker knows from its first start."""
    files = secure_files(settings)
    return [argument for user, name in ((KAFKA_ADMIN, "kafka-admin"), (USER, "kafka"))
            for argument in ("--add-scram", f"{MECHANISM}=[name={user},password={files.password(name)}]")]


def cassandra_yaml(settings: Settings) -> str:
    """What cassandra.yaml adds for the secured node: logins, and TLS for every client connection."""
    files = secure_files(settings)
    return (
        "\n# --secure (stack/secure.py)\n"
        "authenticator:\n  class_name: org.apache.cassandra.auth.PasswordAuthenticator\n"
        "client_encryption_options:\n  enabled: true\n  optional: false\n"
        f"  keystore: {files.keystore}\n  keystore_password: {files.password('keystore')}\n"
        "  store_type: PKCS12\n  require_client_auth: false\n"
    )


def provision_cassandra_role(settings: Settings, timeout_seconds: float = 90.0) -> None:
    """Make sure trendoff's role exists: on a new node, log in as the built-in superuser once, create the
    role, then lock the built-in one (a random password, no login)."""
    from trendoff.clients import cassandra_io
    try:
        cassandra_io.connect(settings, timeout_seconds=10.0).cluster.shutdown()
        return  # the role is there already
    except TrendoffError as error:
        if error.reason != "cassandra-auth":
            raise
    default = settings.with_overrides(cassandra_username=CASSANDRA_DEFAULT[0], cassandra_password=CASSANDRA_DEFAULT[1])
    deadline = time.monotonic() + timeout_seconds
    while True:  # the node creates its default role a moment after it starts taking connections
        try:
            session = cassandra_io.connect(default, timeout_seconds=10.0)
            break
        except TrendoffError as error:
            if error.reason != "cassandra-auth" or time.monotonic() > deadline:
                raise
            time.sleep(1.0)
    try:
        session.execute(f"CREATE ROLE IF NOT EXISTS {USER} WITH PASSWORD = %s AND LOGIN = true AND SUPERUSER = true",
                        (settings.cassandra_password,))
    finally:
        session.cluster.shutdown()
    session = cassandra_io.connect(settings, timeout_seconds=10.0)
    try:
        session.execute(f"ALTER ROLE {CASSANDRA_DEFAULT[0]} WITH PASSWORD = %s AND LOGIN = false AND SUPERUSER = false",
                        (secrets.token_hex(20),))
    finally:
        session.cluster.shutdown()
    log.info("Cassandra role %s created; the built-in superuser is locked", USER)
