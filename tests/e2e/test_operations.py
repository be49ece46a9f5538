"""What an operations team reads: Prometheus metrics at /metrics on their own listener, after a
partner's calls over gRPC and a web client's over REST."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_KEY, REPO, free_port

from test_gateway import gw  # noqa: F401 (the gateway fixture)


def metrics_address(server) -> str:
    return next(arg.split("=", 1)[1] for arg in server.process.args if arg.startswith("--metrics-addr="))


def scrape(server) -> str:
    response = requests.get(f"http://{metrics_address(server)}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def samples(text: str, name: str) -> list[dict]:
    """The label sets of every sample of `name` in a Prometheus text exposition."""
    found = []
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
            found.append({**labels, "value": float(match.group(2))})
    return found


def test_metrics_count_rpcs_and_http_routes_by_method_route_and_status(server, pb, initiatives, gw):
    initiatives.GetInitiative(pb.initiatives_pb2.GetInitiativeRequest(name="initiatives/great-green-wall"))
    for _ in range(2):
        try:
            initiatives.GetInitiative(pb.initiatives_pb2.GetInitiativeRequest(name="initiatives/nowhere"))
        except Exception:  # NOT_FOUND, counted with its status code
            pass
    assert gw.get("/v1/initiatives/tzcld").status_code == 200
    text = scrape(server)

    served = samples(text, "rpc_server_duration_milliseconds_count")
    get_initiative = {
        sample["rpc_grpc_status_code"]: sample["value"]
        for sample in served
        if sample.get("rpc_service") == "sse.initiatives.v1.InitiativeService"
        and sample.get("rpc_method") == "GetInitiative"
    }
    # The gRPC call and the REST call (served in process) succeeded; two were NOT_FOUND (5).
    assert get_initiative.get("0", 0) >= 2, get_initiative
    assert get_initiative.get("5") == 2, get_initiative
    assert samples(text, "rpc_server_duration_milliseconds_bucket"), "a histogram, with buckets"
    assert samples(text, "rpc_server_request_size_bytes_count")
    assert samples(text, "rpc_server_response_size_bytes_count")

    routes = samples(text, "http_server_request_duration_seconds_count")
    assert any(
        sample.get("http_route") == "/v1/initiatives/{initiative}"
        and sample.get("http_response_status_code") == "200"
        and sample.get("http_request_method") == "GET"
        for sample in routes
    ), routes

    pools = samples(text, "db_client_connection_count")
    assert {sample["db_client_connection_state"] for sample in pools} == {"used", "idle"}, pools


def test_metrics_are_not_on_the_public_http_port(server, gw):
    assert requests.get(gw.url("/metrics"), timeout=10).status_code == 404


# --- per-call balancing over every address of a service's name --------------------------------


def start(command: list[str], env_extra: dict, log_path: Path, target: str):
    from conftest import Server, wait_until_serving

    env = {name: value for name, value in os.environ.items() if not name.startswith("OBSERVATORY_")}
    env.pop("DATABASE_URL", None)
    env.update(OBSERVATORY_ADMIN_KEY=ADMIN_KEY, NO_COLOR="1", **env_extra)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    running = Server(process=process, target=target, log_path=log_path)
    wait_until_serving(running)
    return running


def get_initiative_calls(metrics_address: str) -> float:
    text = requests.get(f"http://{metrics_address}/metrics", timeout=10).text
    return sum(
        sample["value"]
        for sample in samples(text, "rpc_server_duration_milliseconds_count")
        if sample.get("rpc_method") == "GetInitiative"
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="a hosts file of its own needs root and unshare"
)
def test_calls_spread_over_every_address_of_a_name_and_one_going_loses_no_call(tmp_path):
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    port = free_port()
    replicas = []
    try:
        for address in ("127.0.0.1", "127.0.0.2"):
            metrics = f"127.0.0.1:{free_port()}"
            command = [
                str(binary.with_name("initiatives")),
                "serve",
                f"--grpc-addr={address}:{port}",
                f"--data-dir={tmp_path / address}",
                f"--metrics-addr={metrics}",
            ]
            replicas.append((start(command, {}, tmp_path / f"{address}.log", f"{address}:{port}"), metrics))

        # The gateway alone sees a hosts file in which initiatives.test has both addresses.
        hosts = tmp_path / "hosts"
        hosts.write_text(Path("/etc/hosts").read_text() + "\n127.0.0.1 initiatives.test\n127.0.0.2 initiatives.test\n")
        grpc_target, http_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        gateway_command = (
            f"mount --bind {hosts} /etc/hosts && exec {binary.with_name('gateway')} serve "
            f"--grpc-addr={grpc_target} --http-addr={http_address} --metrics-addr=127.0.0.1:{free_port()}"
        )
        gateway = start(
            ["unshare", "--mount", "sh", "-c", gateway_command],
            {"OBSERVATORY_INITIATIVES_URL": f"http://initiatives.test:{port}"},
            tmp_path / "gateway.log",
            grpc_target,
        )
        replicas.append((gateway, None))
        url = f"http://{http_address}/v1/initiatives/great-green-wall"

        statuses = [requests.get(url, timeout=10).status_code for _ in range(60)]
        assert statuses == [200] * 60, statuses
        served = [get_initiative_calls(metrics) for _, metrics in replicas[:2]]
        assert all(count >= 10 for count in served), f"calls per replica: {served}"

        # One replica goes; after re-resolution no call is lost.
        replicas[0][0].stop()
        time.sleep(5)
        statuses = [requests.get(url, timeout=10).status_code for _ in range(40)]
        assert statuses == [200] * 40, statuses
    finally:
        for server, _ in reversed(replicas):
            server.stop()


# --- shutdown: REST on keep-alive connections -----------------------------------------------


@pytest.mark.server_env(OBSERVATORY_RATE_LIMIT_PER_SECOND="100000", OBSERVATORY_RATE_LIMIT_BURST="100000")
def test_rest_clients_on_keep_alive_connections_lose_no_request_at_sigterm(server, gw):
    import threading

    import urllib3

    stop = threading.Event()
    answers, cut = [], []

    def client():
        session = requests.Session()
        while not stop.is_set():
            try:
                response = session.get(gw.url("/v1/initiatives/tzcld"), timeout=10)
                answers.append((time.monotonic(), response.status_code, response.headers.get("Connection", "")))
            except requests.ConnectionError as error:
                reason = error.args[0] if error.args else None
                if isinstance(reason, urllib3.exceptions.ProtocolError):
                    # Sent on an open connection, and the connection closed without an answer.
                    cut.append(repr(error))
                # Refused: the server has stopped listening; this client is done.
                return

    clients = [threading.Thread(target=client) for _ in range(16)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)
    signalled = time.monotonic()
    server.terminate()
    time.sleep(1.5)
    stop.set()
    for thread in clients:
        thread.join(timeout=15)
    assert not cut, f"{len(cut)} requests cut without an answer: {cut[:3]}"
    before = [a for a in answers if a[0] < signalled]
    after = [a for a in answers if a[0] >= signalled]
    assert len(before) > 50, f"the clients were busy before the signal: {len(before)}"
    assert all(status == 200 for _, status, _ in answers), {status for _, status, _ in answers}
    closing = [connection for _, _, connection in after if connection.lower() == "close"]
    assert closing, "answers after the signal say Connection: close"
