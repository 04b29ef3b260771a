"""SASL against Sluice from the Python clients: confluent-kafka, kafka-python and aiokafka with
SCRAM-SHA-512 over SASL_SSL and PLAIN over SASL_PLAINTEXT, and a wrong password refused.

The broker binary runs with a SASL_PLAINTEXT and a SASL_SSL listener and one user; its
certificates are made at run time with the `openssl` command (a CA and a server certificate
for 127.0.0.1), so no key is committed.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    REPO,
    TIMEOUT_S,
    _die_with_parent,
    _free_port,
    _wait_until_accepting,
    broker_env,
    unique,
)

USER, PASSWORD = "alice", "alice-secret"
RECORDS = [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(3)]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """ca.pem, server.pem and server.key (P-256 keys, two days) in `directory`."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Sluice test CA", cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=directory)
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
             cwd=directory)


class SecureBroker:
    def __init__(self, sasl_plaintext: str, sasl_ssl: str, ca: Path):
        self.sasl_plaintext = sasl_plaintext
        self.sasl_ssl = sasl_ssl
        self.ca = str(ca)


@pytest.fixture(scope="module")
def secure() -> Iterator[SecureBroker]:
    binary = Path(os.environ.get("SLUICE_BIN", REPO / "target" / "debug" / "sluice"))
    if not binary.is_file():
        pytest.exit(f"no broker binary at {binary}: run `cargo build -p sluice --bin sluice`", 2)
    certs = Path(tempfile.mkdtemp(prefix="sluice-tls-"))
    make_certificates(certs)
    plain_port, ssl_port = _free_port(), _free_port()
    log_dir = Path(os.environ.get("INTEROP_LOG_DIR", tempfile.gettempdir()))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "broker-python-security.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [
            str(binary), "serve", "--memory", "--http", "none",
            "--listener", f"SASL_PLAINTEXT://127.0.0.1:{plain_port}",
            "--listener", f"SASL_SSL://127.0.0.1:{ssl_port}",
            "--tls-cert", str(certs / "server.pem"),
            "--tls-key", str(certs / "server.key"),
            "--sasl-user", f"{USER}:{PASSWORD}",
        ],
        env=broker_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    pid_file = log_dir / f"broker-python-security-{os.getpid()}.pid"
    pid_file.write_text(f"{proc.pid}\n")
    try:
        _wait_until_accepting(proc, plain_port, log_path)
        _wait_until_accepting(proc, ssl_port, log_path)
        yield SecureBroker(f"127.0.0.1:{plain_port}", f"127.0.0.1:{ssl_port}", certs / "ca.pem")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        pid_file.unlink(missing_ok=True)


# The two ways in: (name, listener, mechanism, uses TLS).
WAYS = [
    ("scram-sha-512-sasl-ssl", "sasl_ssl", "SCRAM-SHA-512", True),
    ("plain-sasl-plaintext", "sasl_plaintext", "PLAIN", False),
]


def _bootstrap(secure: SecureBroker, listener: str) -> str:
    return getattr(secure, listener)


# --- confluent-kafka ----------------------------------------------------------------------------

def _confluent_conf(secure: SecureBroker, listener: str, mechanism: str, tls: bool,
                    password: str = PASSWORD) -> dict:
    conf = {
        "bootstrap.servers": _bootstrap(secure, listener),
        "broker.address.family": "v4",
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": USER,
        "sasl.password": password,
    }
    if tls:
        conf["ssl.ca.location"] = secure.ca
    return conf


@pytest.mark.parametrize("name,listener,mechanism,tls", WAYS, ids=[w[0] for w in WAYS])
def test_confluent_kafka_produces_and_consumes(secure, name, listener, mechanism, tls):
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic = unique(f"py-sec-confluent-{name}")
    producer = Producer(_confluent_conf(secure, listener, mechanism, tls))
    errors = []
    for key, value in RECORDS:
        producer.produce(topic, key=key, value=value,
                         on_delivery=lambda err, _msg: errors.append(err) if err else None)
    assert producer.flush(TIMEOUT_S) == 0
    assert errors == []
    conf = _confluent_conf(secure, listener, mechanism, tls)
    conf.update({"group.id": unique("py-sec"), "enable.auto.commit": False,
                 "auto.offset.reset": "earliest"})
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, 0, 0)])
    received = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(received) < len(RECORDS) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            received.append((msg.offset(), msg.key(), msg.value()))
    consumer.close()
    assert received == [(i, k, v) for i, (k, v) in enumerate(RECORDS)]


def test_confluent_kafka_with_a_wrong_password_is_refused(secure):
    from confluent_kafka import Producer

    failures = []
    conf = _confluent_conf(secure, "sasl_ssl", "SCRAM-SHA-512", True, password="wrong")
    conf["error_cb"] = lambda err: failures.append(str(err))
    producer = Producer(conf)
    producer.produce(unique("py-sec-refused"), value=b"never")
    deadline = time.monotonic() + TIMEOUT_S
    while not any("Authentication failed" in f for f in failures) and time.monotonic() < deadline:
        producer.poll(0.2)
    assert any("SASL authentication error" in f for f in failures), failures
    producer.purge()


# --- kafka-python -------------------------------------------------------------------------------

def _kafka_python_conf(secure: SecureBroker, listener: str, mechanism: str, tls: bool) -> dict:
    conf = dict(
        bootstrap_servers=_bootstrap(secure, listener),
        security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=USER,
        sasl_plain_password=PASSWORD,
        request_timeout_ms=int(TIMEOUT_S * 1000),
    )
    if tls:
        conf["ssl_cafile"] = secure.ca
    return conf


@pytest.mark.parametrize("name,listener,mechanism,tls", WAYS, ids=[w[0] for w in WAYS])
def test_kafka_python_produces_and_consumes(secure, name, listener, mechanism, tls):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = unique(f"py-sec-kafka-python-{name}")
    producer = KafkaProducer(**_kafka_python_conf(secure, listener, mechanism, tls))
    offsets = [producer.send(topic, key=k, value=v).get(timeout=TIMEOUT_S).offset
               for k, v in RECORDS]
    producer.close()
    assert offsets == [0, 1, 2]
    consumer = KafkaConsumer(**_kafka_python_conf(secure, listener, mechanism, tls),
                             enable_auto_commit=False, consumer_timeout_ms=int(TIMEOUT_S * 1000))
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    received = []
    for message in consumer:
        received.append((message.offset, message.key, message.value))
        if len(received) == len(RECORDS):
            break
    consumer.close()
    assert received == [(i, k, v) for i, (k, v) in enumerate(RECORDS)]


# --- aiokafka -----------------------------------------------------------------------------------

def _aiokafka_conf(secure: SecureBroker, listener: str, mechanism: str, tls: bool) -> dict:
    conf = dict(
        bootstrap_servers=_bootstrap(secure, listener),
        security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=USER,
        sasl_plain_password=PASSWORD,
    )
    if tls:
        conf["ssl_context"] = ssl.create_default_context(cafile=secure.ca)
    return conf


@pytest.mark.parametrize("name,listener,mechanism,tls", WAYS, ids=[w[0] for w in WAYS])
def test_aiokafka_produces_and_consumes(secure, name, listener, mechanism, tls):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = unique(f"py-sec-aiokafka-{name}")

    async def roundtrip():
        producer = AIOKafkaProducer(**_aiokafka_conf(secure, listener, mechanism, tls))
        await producer.start()
        try:
            offsets = [(await producer.send_and_wait(topic, key=k, value=v)).offset
                       for k, v in RECORDS]
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(**_aiokafka_conf(secure, listener, mechanism, tls),
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            received = []
            while len(received) < len(RECORDS):
                message = await consumer.getone()
                received.append((message.offset, message.key, message.value))
        finally:
            await consumer.stop()
        return offsets, received

    offsets, received = asyncio.run(asyncio.wait_for(roundtrip(), timeout=TIMEOUT_S * 2))
    assert offsets == [0, 1, 2]
    assert received == [(i, k, v) for i, (k, v) in enumerate(RECORDS)]
