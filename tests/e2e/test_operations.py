"""What an operations team reads: Prometheus metrics at /metrics on their own listener, after a
partner's calls over gRPC and a web client's over REST."""

import re

import requests

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
