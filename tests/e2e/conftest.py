"""Fixtures for the end-to-end suite: Python stubs generated from proto/, and a fresh
observatory server per test, started from the built binary and stopped with SIGTERM."""

import importlib
import importlib.resources
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
GENERATED = Path(__file__).resolve().parent / ".generated"
ADMIN_KEY = os.environ.get("OBSERVATORY_ADMIN_KEY", "e2e-test-key")
STARTUP_TIMEOUT_S = 30
SHUTDOWN_TIMEOUT_S = 15
CALL_TIMEOUT_S = 10

PHASE_REPORTS = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line("markers", "server_env(**variables): extra environment for the observatory under test")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report so fixtures can tell, at teardown, whether the test failed."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def pb():
    """The generated modules `initiatives_pb2` and `initiatives_pb2_grpc`."""
    shutil.rmtree(GENERATED, ignore_errors=True)
    GENERATED.mkdir(parents=True)
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    protos = sorted(str(path.relative_to(PROTO_ROOT)) for path in PROTO_ROOT.rglob("*.proto"))
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--python_out={GENERATED}",
            f"--grpc_python_out={GENERATED}",
            *protos,
        ]
    )
    assert status == 0, f"protoc failed ({status}) on {protos}"
    sys.path.insert(0, str(GENERATED))
    return SimpleNamespace(
        initiatives_pb2=importlib.import_module("sse.initiatives.v1.initiatives_pb2"),
        initiatives_pb2_grpc=importlib.import_module("sse.initiatives.v1.initiatives_pb2_grpc"),
    )


def free_port() -> int:
    return free_ports(1)[0]


# Ports for test servers are chosen from this one up to the kernel's ephemeral range (as
# `sse-bench free-ports` does, bench/src/process.rs).
LOWEST_TEST_PORT = 20000


def ephemeral_range_start() -> int:
    """The first port the kernel hands out for bind(0) and for the local end of outgoing
    connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports, chosen below the kernel's ephemeral range where it leaves
    room. A port from bind(0) is free only until it is released: before the server binds it, any
    outgoing connection may get it as its local port, and the services open dozens to their
    databases (a gateway started after them once found its HTTP port taken so). Every socket is
    held open until all are chosen, since a released port can be handed out again by the next
    call (one server once got the same port for HTTP and metrics)."""
    span = ephemeral_range_start() - LOWEST_TEST_PORT
    sockets: list[socket.socket] = []
    try:
        if span >= 1000:
            # From a random place, so that two runs do not try the same ports in the same order.
            start = random.randrange(span)
            for offset in range(span):
                if len(sockets) == count:
                    break
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.bind(("127.0.0.1", LOWEST_TEST_PORT + (start + offset) % span))
                except OSError:
                    sock.close()
                    continue
                sockets.append(sock)
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Server:
    """A running observatory process and where to reach it."""

    process: subprocess.Popen
    target: str
    log_path: Path
    terminated: bool = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Sends SIGTERM, once: a second one could mean "stop now" rather than "drain"."""
        if not self.terminated and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.terminated = True

    def stop(self) -> int:
        """Terminates and returns the exit code, failing if the process does not exit in time."""
        self.terminate()
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"observatory did not exit within {SHUTDOWN_TIMEOUT_S}s of SIGTERM\n{self.log()}")


class CallDefaults(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <key>` to every call, and a deadline to those without one."""

    def __init__(self, key: str):
        self.metadata = ("authorization", f"Bearer {key}")

    def _with_defaults(self, details):
        timeout = CALL_TIMEOUT_S if details.timeout is None else details.timeout
        return details._replace(metadata=[*(details.metadata or ()), self.metadata], timeout=timeout)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_defaults(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_defaults(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._with_defaults(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_defaults(details), requests)


def wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    # Retry connecting often: the default reconnect backoff would add about a second per server.
    options = [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 200)]
    with grpc.insecure_channel(server.target, options=options) as channel:
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
    pytest.fail(f"observatory was not SERVING within {STARTUP_TIMEOUT_S}s\n{server.log()}")


@pytest.fixture
def server(request):
    """A fresh, seeded observatory on a free loopback port with its own data dir. Teardown
    sends SIGTERM and asserts a clean exit (code 0); the server's output is printed on failure.
    A `server_env` marker adds environment variables."""
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"observatory binary not found at {binary}: run `cargo build` or set OBSERVATORY_BIN")
    with tempfile.TemporaryDirectory(prefix="observatory-e2e-") as workdir:
        data_dir = Path(workdir) / "data"
        log_path = Path(workdir) / "output.log"
        grpc_port, http_port, metrics_port = free_ports(3)
        target = f"127.0.0.1:{grpc_port}"
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("OBSERVATORY_") and name != "DATABASE_URL"
        }
        env.update(OBSERVATORY_ADMIN_KEY=ADMIN_KEY, NO_COLOR="1")
        marker = request.node.get_closest_marker("server_env")
        if marker:
            env.update(marker.kwargs)
        command = [
            str(binary),
            "serve",
            f"--grpc-addr={target}",
            f"--http-addr=127.0.0.1:{http_port}",
            f"--data-dir={data_dir}",
            f"--metrics-addr=127.0.0.1:{metrics_port}",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        running = Server(process=process, target=target, log_path=log_path)
        try:
            wait_until_serving(running)
            yield running
        finally:
            exit_code = running.stop()
            if any(report.failed for report in request.node.stash.get(PHASE_REPORTS, {}).values()):
                print(f"--- observatory output ---\n{running.log()}", file=sys.stderr)
        assert exit_code == 0, f"observatory exited with {exit_code} after SIGTERM\n{running.log()}"


@pytest.fixture
def channel(server):
    """A channel to the server that sends the admin key (and a deadline) on every call."""
    with grpc.insecure_channel(server.target) as raw:
        yield grpc.intercept_channel(raw, CallDefaults(ADMIN_KEY))


@pytest.fixture
def initiatives(pb, channel):
    """An InitiativeService client."""
    return pb.initiatives_pb2_grpc.InitiativeServiceStub(channel)
