"""A rehearsal of the `services` overlay: the manifests rendered with `kubectl kustomize`, and
each Deployment's binary started as a local process with exactly the command, arguments,
environment and ConfigMaps the manifests give it (addresses, service URLs and database URLs
rewritten to loopback ports and to a PostgreSQL database per service). Its init container runs
first, its probes are waited on as declared, then REST, gRPC-Web and gRPC are driven through the
gateway and the services; the law guide is stopped (its routes answer 503, the rest still
work) and started again (its routes recover without restarting the gateway)."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import requests
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import ADMIN_KEY, REPO, free_port

OVERLAY = REPO / "deploy/kubernetes/overlays/services"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
PROBE_DEADLINE_S = 60


def render(overlay: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    command = [kubectl, "kustomize", str(overlay)] if kubectl else [shutil.which("kustomize") or "kustomize", "build", str(overlay)]
    rendered = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    return [document for document in yaml.safe_load_all(rendered) if document]


def database_url(name: str) -> str:
    parts = urllib.parse.urlsplit(POSTGRES_URL)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def psql(statement: str) -> None:
    subprocess.run(["psql", POSTGRES_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement], check=True, timeout=60)


@dataclass
class Pod:
    """One Deployment of the overlay, run as a local process."""

    name: str
    spec: dict
    ports: dict = field(default_factory=dict)  # container port (number or name) -> local port
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def container(self) -> dict:
        return self.spec["containers"][0]

    def local_port(self, port) -> int:
        return self.ports[port]


class Cluster:
    """The overlay's Deployments as processes on this machine."""

    def __init__(self, documents: list[dict], secrets: dict, workdir: Path):
        self.documents = documents
        self.secrets = secrets
        self.workdir = workdir
        self.config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"}
        self.pods = {}
        for deployment in (d for d in documents if d["kind"] == "Deployment"):
            pod = Pod(name=deployment["metadata"]["name"], spec=deployment["spec"]["template"]["spec"])
            for port in pod.container.get("ports", []):
                local = free_port()
                pod.ports[port["containerPort"]] = local
                if "name" in port:
                    pod.ports[port["name"]] = local
            self.pods[pod.name] = pod
        # A Service named like a Deployment reaches its gRPC port.
        self.service_ports = {}
        for service in (d for d in self.documents if d["kind"] == "Service"):
            name = service["metadata"]["name"]
            if name in self.pods:
                for port in service["spec"]["ports"]:
                    target = port.get("targetPort", port["port"])
                    self.service_ports[(name, port["port"])] = self.pods[name].local_port(target)

    def environment(self, pod: Pod, container: dict) -> dict:
        env = {}
        for source in container.get("envFrom", []):
            env.update(self.config_maps[source["configMapRef"]["name"]])
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), ""), variable["value"])
            elif "secretKeyRef" in variable.get("valueFrom", {}):
                env[variable["name"]] = self.secrets[variable["valueFrom"]["secretKeyRef"]["key"]]
            elif "fieldRef" in variable.get("valueFrom", {}):
                env[variable["name"]] = f"rehearsal-{pod.name}"
        rewritten = {name: self.rewrite(pod, name, str(value)) for name, value in env.items()}
        # Each pod has a network of its own; here they share one, so listeners on defaults (the
        # metrics port) get ports of their own.
        rewritten.setdefault("OBSERVATORY_METRICS_ADDR", f"127.0.0.1:{pod.ports.setdefault('metrics-default', free_port())}")
        return rewritten

    def rewrite(self, pod: Pod, name: str, value: str) -> str:
        """Cluster addresses to loopback ones: listen addresses to the pod's local ports, service
        URLs to the local port of the Service's pod; no collector here."""
        if name == "OTEL_EXPORTER_OTLP_ENDPOINT":
            return ""
        if name in ("OBSERVATORY_GRPC_ADDR", "OBSERVATORY_HTTP_ADDR", "OBSERVATORY_METRICS_ADDR"):
            port = int(value.rsplit(":", 1)[1])
            return f"127.0.0.1:{pod.ports.get(port) or free_port()}"

        def local(match):
            service, port = match.group(2), int(match.group(3))
            return f"{match.group(1)}127.0.0.1:{self.service_ports[(service, port)]}"

        return re.sub(r"(https?://)([a-z0-9-]+):(\d+)", local, value)

    def run(self, pod: Pod, container: dict, wait: bool) -> subprocess.Popen:
        binary = REPO / "target/debug" / Path(container["command"][0]).name
        if os.environ.get("OBSERVATORY_BIN"):
            binary = Path(os.environ["OBSERVATORY_BIN"]).with_name(Path(container["command"][0]).name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATORY_") and k != "DATABASE_URL"}
        env.update(self.environment(pod, container))
        env["NO_COLOR"] = "1"
        pod.env = env
        log_path = self.workdir / f"{pod.name}-{container['name']}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [str(binary), *container.get("args", [])],
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        if wait:
            assert process.wait(timeout=120) == 0, f"{pod.name} {container['name']} failed:\n{log_path.read_text()}"
        else:
            pod.process, pod.log_path = process, log_path
        return process

    def start(self, pod: Pod) -> None:
        for init in pod.spec.get("initContainers", []):
            self.run(pod, init, wait=True)
        self.run(pod, pod.container, wait=False)
        for probe_name in ("startupProbe", "readinessProbe"):
            if probe_name in pod.container:
                self.wait_for_probe(pod, pod.container[probe_name])

    def wait_for_probe(self, pod: Pod, probe: dict) -> None:
        deadline = time.monotonic() + PROBE_DEADLINE_S
        while not self.probe(pod, probe):
            if pod.process.poll() is not None:
                pytest.fail(f"{pod.name} exited with {pod.process.returncode}:\n{pod.log_path.read_text()}")
            assert time.monotonic() < deadline, f"{pod.name} never passed {probe}:\n{pod.log_path.read_text()}"
            time.sleep(0.1)

    def probe(self, pod: Pod, probe: dict) -> bool:
        try:
            if "grpc" in probe:
                port = pod.local_port(probe["grpc"]["port"])
                with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", "")), timeout=2
                    )
                    return reply.status == health_pb2.HealthCheckResponse.SERVING
            if "httpGet" in probe:
                port = pod.local_port(probe["httpGet"]["port"])
                return requests.get(f"http://127.0.0.1:{port}{probe['httpGet']['path']}", timeout=2).status_code < 400
            if "tcpSocket" in probe:
                with socket.create_connection(("127.0.0.1", pod.local_port(probe["tcpSocket"]["port"])), timeout=2):
                    return True
        except (grpc.RpcError, requests.RequestException, OSError):
            return False
        pytest.fail(f"a probe the rehearsal cannot run: {probe}")

    def stop(self, pod: Pod) -> int | None:
        """SIGTERM, as Kubernetes sends; the exit code, or None when the pod had to be killed
        after 20 s."""
        if pod.process and pod.process.poll() is None:
            pod.process.send_signal(signal.SIGTERM)
            try:
                return pod.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pod.process.kill()
                pod.process.wait()
                return None
        return pod.process.returncode if pod.process else None


def grpc_web_frame(payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(payload)) + payload


@pytest.fixture
def cluster(tmp_path):
    documents = render(OVERLAY)
    suffix = uuid.uuid4().hex[:10]
    names = {key: f"rehearsal_{key.replace('-', '_')}_{suffix}" for key in ("initiatives", "indicators", "law-guide", "access")}
    for name in names.values():
        psql(f'CREATE DATABASE "{name}"')
    secrets = {
        "initiatives-database-url": database_url(names["initiatives"]),
        "indicators-database-url": database_url(names["indicators"]),
        "law-guide-database-url": database_url(names["law-guide"]),
        "access-database-url": database_url(names["access"]),
        "admin-key": ADMIN_KEY,
    }
    running = Cluster(documents, secrets, tmp_path)
    try:
        # Backends first, as their Deployments become ready; the gateway last.
        for name in ("initiatives", "indicators", "law-guide", "gateway"):
            running.start(running.pods[name])
        yield running
    finally:
        for pod in running.pods.values():
            running.stop(pod)
        for name in names.values():
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_services_overlay_runs_as_its_manifests_say(cluster, pb):
    assert set(cluster.pods) == {"initiatives", "indicators", "law-guide", "gateway"}
    gateway = f"http://127.0.0.1:{cluster.pods['gateway'].local_port('http')}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    # gRPC straight to the initiatives service, with the deployment's admin key.
    initiatives_port = cluster.pods["initiatives"].local_port("grpc")
    with grpc.insecure_channel(f"127.0.0.1:{initiatives_port}") as channel:
        stub = pb.initiatives_pb2_grpc.InitiativeServiceStub(channel)
        created = stub.CreateInitiative(
            pb.initiatives_pb2.CreateInitiativeRequest(
                initiative_id="rehearsal-coop",
                initiative=pb.initiatives_pb2.Initiative(display_name="Rehearsal cooperative", countries=["SN"]),
            ),
            metadata=[("authorization", f"Bearer {ADMIN_KEY}")],
            timeout=10,
        ).initiative
        assert created.name == "initiatives/rehearsal-coop"

    # REST through the gateway to each service; a write without a key is refused.
    listed = requests.get(f"{gateway}/v1/initiatives", timeout=10)
    assert listed.status_code == 200, listed.text
    assert [i["name"] for i in listed.json()["initiatives"]] == ["initiatives/rehearsal-coop"]
    assert requests.get(f"{gateway}/v1/indicators", timeout=10).status_code == 200
    assert requests.get(f"{gateway}/v1/legalTexts", timeout=10).status_code == 200
    assert requests.post(f"{gateway}/v1/initiatives", json={"displayName": "x"}, timeout=10).status_code == 401
    # Keys are managed through the gateway too, over the one access store.
    made = requests.post(
        f"{gateway}/v1/apiKeys", json={"displayName": "Rehearsal", "scopes": ["read"]}, headers=admin, timeout=10
    )
    assert made.status_code == 200, made.text

    # gRPC-Web through the gateway.
    web = requests.post(
        f"{gateway}/sse.initiatives.v1.InitiativeService/GetInitiative",
        data=grpc_web_frame(pb.initiatives_pb2.GetInitiativeRequest(name="initiatives/rehearsal-coop").SerializeToString()),
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
        timeout=10,
    )
    assert web.status_code == 200
    assert b"Rehearsal cooperative" in web.content
    assert b"grpc-status:0" in web.content.replace(b" ", b"")

    # The law guide goes away: its routes answer 503, every other route still works.
    law_guide = cluster.pods["law-guide"]
    cluster.stop(law_guide)
    down = requests.get(f"{gateway}/v1/legalTexts", timeout=15)
    assert down.status_code == 503, down.text
    assert requests.get(f"{gateway}/v1/initiatives", timeout=10).status_code == 200
    assert requests.get(f"{gateway}/v1/indicators", timeout=10).status_code == 200

    # It comes back (same port, as a restarted pod behind its Service): the routes recover
    # without touching the gateway.
    cluster.run(law_guide, law_guide.container, wait=False)
    cluster.wait_for_probe(law_guide, law_guide.container["readinessProbe"])
    deadline = time.monotonic() + 10
    while requests.get(f"{gateway}/v1/legalTexts", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the law routes did not recover within 10 s"
        time.sleep(0.2)
    assert cluster.pods["gateway"].process.poll() is None, "the gateway kept running throughout"

    # Told to stop, the initiatives pod, which has served reads from PostgreSQL (GetInitiative
    # keeps a connection of its own), exits on its own and cleanly.
    assert cluster.stop(cluster.pods["initiatives"]) == 0
