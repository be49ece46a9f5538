"""End-to-end tests of mutual TLS: `observatory serve` with the tls_* settings, driven by clients
with TLS stacks of their own (grpcio's BoringSSL, Python's OpenSSL through requests), with
certificates made for each test by `cryptography`.

A client without a certificate, or with one from another CA, is refused on both ports; one with a
certificate of the configured CA gets data, including from the indicators service, which asks
the initiatives service of the same process over TLS. Settings that cannot work stop the binary
at start with exit code 2, naming the setting."""

import datetime
import ipaddress
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import ADMIN_KEY, REPO, STARTUP_TIMEOUT_S, Server, free_port

SEEDED = {"great-green-wall", "tzcld", "la-guilde", "mondragon"}


@dataclass
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path

    def pem(self) -> tuple[bytes, bytes]:
        return self.cert.read_bytes(), self.key.read_bytes()


class Authority:
    """A CA of the test's own that writes the certificates it signs into `folder`."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} e2e CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.subject = subject
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_file = folder / f"{name}-ca.crt"
        self.cert_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, *, server: bool, client: bool) -> Pair:
        """A certificate for localhost and 127.0.0.1 with the usages asked for."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)]))
            .issuer_name(self.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        pair = Pair(self.folder / f"{self.name}-{stem}.crt", self.folder / f"{self.name}-{stem}.key")
        pair.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return pair


@dataclass
class Pki:
    ca: Authority
    server: Pair
    client: Pair
    stranger: Pair


@pytest.fixture
def pki():
    with tempfile.TemporaryDirectory(prefix="observatory-tls-") as folder:
        folder = Path(folder)
        ca = Authority(folder, "observatory")
        stranger_ca = Authority(folder, "stranger")
        yield Pki(
            ca=ca,
            # The server calls itself (indicators -> initiatives), so its certificate is both.
            server=ca.issue("server", server=True, client=True),
            client=ca.issue("client", server=False, client=True),
            stranger=stranger_ca.issue("intruder", server=False, client=True),
        )


def binary() -> Path:
    path = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"observatory binary not found at {path}: run `cargo build` or set OBSERVATORY_BIN")
    return path


def tls_env(pki: Pki) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OBSERVATORY_")}
    env.pop("DATABASE_URL", None)
    env.update(
        OBSERVATORY_ADMIN_KEY=ADMIN_KEY,
        NO_COLOR="1",
        OBSERVATORY_TLS_CERT_FILE=str(pki.server.cert),
        OBSERVATORY_TLS_KEY_FILE=str(pki.server.key),
        OBSERVATORY_TLS_CLIENT_CA_FILE=str(pki.ca.cert_file),
        OBSERVATORY_TLS_CA_FILE=str(pki.ca.cert_file),
        OBSERVATORY_TLS_CLIENT_CERT_FILE=str(pki.server.cert),
        OBSERVATORY_TLS_CLIENT_KEY_FILE=str(pki.server.key),
    )
    return env


def credentials(pki: Pki, identity: Pair | None) -> grpc.ChannelCredentials:
    root = pki.ca.cert_file.read_bytes()
    if identity is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    cert, key = identity.pem()
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def secure_channel(server: Server, pki: Pki, identity: Pair | None) -> grpc.Channel:
    # The certificate names localhost; the server listens on 127.0.0.1, which it names too.
    return grpc.secure_channel(server.target, credentials(pki, identity))


@dataclass
class TlsServer:
    server: Server
    http: str


@pytest.fixture
def tls_server(pki, request):
    with tempfile.TemporaryDirectory(prefix="observatory-e2e-") as workdir:
        log_path = Path(workdir) / "output.log"
        target = f"127.0.0.1:{free_port()}"
        http = f"127.0.0.1:{free_port()}"
        command = [
            str(binary()),
            "serve",
            f"--grpc-addr={target}",
            f"--http-addr={http}",
            f"--data-dir={Path(workdir) / 'data'}",
            f"--metrics-addr=127.0.0.1:{free_port()}",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=tls_env(pki), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        running = Server(process=process, target=target, log_path=log_path)
        try:
            wait_until_serving(running, pki)
            yield TlsServer(server=running, http=f"https://{http}")
        finally:
            exit_code = running.stop()
        assert exit_code == 0, f"observatory exited with {exit_code} after SIGTERM\n{running.log()}"


def wait_until_serving(server: Server, pki: Pki) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with secure_channel(server, pki, pki.client) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"observatory exited with {server.process.returncode} while starting\n{server.log()}")
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    pytest.fail(f"observatory was not SERVING over TLS within {STARTUP_TIMEOUT_S}s\n{server.log()}")


def test_grpc_serves_a_client_with_a_certificate_of_the_ca(pb, pki, tls_server):
    with secure_channel(tls_server.server, pki, pki.client) as channel:
        initiatives = pb.initiatives_pb2_grpc.InitiativeServiceStub(channel)
        reply = initiatives.ListInitiatives(pb.initiatives_pb2.ListInitiativesRequest(page_size=100), timeout=10)
        assert {i.name.removeprefix("initiatives/") for i in reply.initiatives} == SEEDED


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_grpc_refuses_a_client_without_a_certificate_of_the_ca(pki, tls_server, who):
    identity = None if who == "no certificate" else pki.stranger
    with secure_channel(tls_server.server, pki, identity) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_refuses_plain_text(tls_server):
    with grpc.insecure_channel(tls_server.server.target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_rest_over_mutual_tls_reaches_every_service(pki, tls_server):
    client = (str(pki.client.cert), str(pki.client.key))
    verify = str(pki.ca.cert_file)
    response = requests.get(f"{tls_server.http}/v1/initiatives", cert=client, verify=verify, timeout=10)
    assert response.status_code == 200, response.text
    assert {i["name"].removeprefix("initiatives/") for i in response.json()["initiatives"]} == SEEDED

    # Grouping by legal form makes the indicators service ask the initiatives service, over
    # TLS to its own process (https://localhost:PORT, with its own client certificate).
    indicators = requests.get(f"{tls_server.http}/v1/indicators", cert=client, verify=verify, timeout=10).json()
    forms = set()
    for indicator in indicators["indicators"]:
        aggregate = requests.get(
            f"{tls_server.http}/v1/{indicator['name']}:aggregate",
            params={"group_by": "legal_form"},
            cert=client,
            verify=verify,
            timeout=10,
        )
        assert aggregate.status_code == 200, aggregate.text
        for row in aggregate.json().get("rows", []):
            forms.update(g.get("value") for g in row["group"] if g["field"] == "legal_form")
    assert "COOPERATIVE" in forms, forms


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_rest_refuses_a_client_without_a_certificate_of_the_ca(pki, tls_server, who):
    cert = None if who == "no certificate" else (str(pki.stranger.cert), str(pki.stranger.key))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{tls_server.http}/v1/initiatives", cert=cert, verify=str(pki.ca.cert_file), timeout=10)
    # The refusal did not stop the server.
    client = (str(pki.client.cert), str(pki.client.key))
    response = requests.get(f"{tls_server.http}/openapi.json", cert=client, verify=str(pki.ca.cert_file), timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"OBSERVATORY_TLS_CLIENT_CA_FILE": "{ca}"}, "tls_client_ca_file"),
        ({"OBSERVATORY_TLS_CERT_FILE": "{cert}"}, "tls_key_file"),
        ({"OBSERVATORY_TLS_CERT_FILE": "{cert}", "OBSERVATORY_TLS_KEY_FILE": "/nonexistent/tls.key"}, "tls_key_file"),
        ({"OBSERVATORY_TLS_CERT_FILE": "{cert}", "OBSERVATORY_TLS_KEY_FILE": "{client_key}"}, "tls_key_file"),
        ({"OBSERVATORY_TLS_CLIENT_CERT_FILE": "{cert}"}, "tls_client_key_file"),
    ],
)
def test_settings_that_cannot_work_stop_the_binary_at_start(pki, settings, named):
    values = {
        "ca": str(pki.ca.cert_file),
        "cert": str(pki.server.cert),
        "client_key": str(pki.client.key),
    }
    env = {name: value for name, value in os.environ.items() if not name.startswith("OBSERVATORY_")}
    env.update({name: value.format(**values) for name, value in settings.items()})
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            [
                str(binary()),
                "serve",
                f"--grpc-addr=127.0.0.1:{free_port()}",
                f"--data-dir={workdir}",
                f"--metrics-addr=127.0.0.1:{free_port()}",
            ],
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2, done.stderr.decode(errors="replace")
    assert named in done.stderr.decode(errors="replace")
