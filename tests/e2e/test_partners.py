"""Partner access as a partner meets it with an independent Python gRPC client and plain HTTP:
anonymous writes refused, a key of the wrong scope refused, the right scope accepted, a
revoked key refused within 5 seconds, the audit trail listed, 429 after a burst, and keys made
with `observatory keys` on the command line while the server runs."""

import importlib
import json
import os
import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from conftest import ADMIN_KEY, CALL_TIMEOUT_S, REPO
from test_gateway import gw  # noqa: F401 (the gateway fixture)
from test_observatory import error_details, new_initiative, rpc_error

REVOCATION_DEADLINE_S = 5


@pytest.fixture
def access_pb(pb):
    return (
        importlib.import_module("sse.access.v1.access_pb2"),
        importlib.import_module("sse.access.v1.access_pb2_grpc"),
    )


@pytest.fixture
def raw_channel(server):
    """A channel that sends no key: each call says which, if any."""
    with grpc.insecure_channel(server.target) as channel:
        yield channel


def bearer(key: str):
    return [("authorization", f"Bearer {key}")]


def create_key(access_pb, channel, display_name: str, scopes: list[str]):
    messages, services = access_pb
    reply = services.AccessServiceStub(channel).CreateApiKey(
        messages.CreateApiKeyRequest(api_key=messages.ApiKey(display_name=display_name, scopes=scopes)),
        metadata=bearer(ADMIN_KEY),
        timeout=CALL_TIMEOUT_S,
    )
    return reply.api_key, reply.key


def create_initiative(pb, channel, key, initiative_id: str):
    stub = pb.initiatives_pb2_grpc.InitiativeServiceStub(channel)
    return stub.CreateInitiative(
        pb.initiatives_pb2.CreateInitiativeRequest(initiative=new_initiative(pb), initiative_id=initiative_id),
        metadata=bearer(key) if key else None,
        timeout=CALL_TIMEOUT_S,
    )


def refused_within_5_s(pb, channel, secret: str, prefix: str) -> grpc.RpcError:
    """Writes with `secret` (a new initiative each time) until a write is refused, failing if
    that takes more than 5 s; returns the refusal."""
    deadline = time.monotonic() + REVOCATION_DEADLINE_S
    attempt = 0
    while True:
        attempt += 1
        try:
            create_initiative(pb, channel, secret, f"{prefix}-{attempt}")
        except grpc.RpcError as error:
            return error
        assert time.monotonic() < deadline, "a revoked key still writes after 5 s"
        time.sleep(0.1)


def test_writes_need_a_key_with_their_scope_and_a_revoked_key_stops_within_5_s(pb, access_pb, raw_channel):
    anonymous = rpc_error(create_initiative, pb, raw_channel, None, "anonymous-coop")
    assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_details(anonymous)[0].reason == "API_KEY_REQUIRED"

    _, law_key = create_key(access_pb, raw_channel, "Law partner", ["lawguide.write"])
    wrong_scope = rpc_error(create_initiative, pb, raw_channel, law_key, "wrong-scope-coop")
    assert wrong_scope.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_details(wrong_scope)[0].reason == "SCOPE_MISSING"

    key, secret = create_key(access_pb, raw_channel, "Catalogue partner", ["initiatives.write", "read"])
    assert secret.startswith("sse_") and len(secret) >= 26
    created = create_initiative(pb, raw_channel, secret, "partner-coop").initiative
    assert created.name == "initiatives/partner-coop"

    messages, services = access_pb
    services.AccessServiceStub(raw_channel).RevokeApiKey(
        messages.RevokeApiKeyRequest(name=key.name), metadata=bearer(ADMIN_KEY), timeout=CALL_TIMEOUT_S
    )
    refused = refused_within_5_s(pb, raw_channel, secret, "after-revoke")
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_details(refused)[0].reason == "API_KEY_REVOKED"


def test_the_admin_lists_every_write_accepted_or_refused(pb, access_pb, raw_channel):
    key, secret = create_key(access_pb, raw_channel, "Audited partner", ["initiatives.write"])
    create_initiative(pb, raw_channel, secret, "audited-e2e")
    rpc_error(create_initiative, pb, raw_channel, None, "refused-e2e")

    messages, services = access_pb
    stub = services.AccessServiceStub(raw_channel)
    events = stub.ListAuditEvents(
        messages.ListAuditEventsRequest(page_size=100), metadata=bearer(ADMIN_KEY), timeout=CALL_TIMEOUT_S
    ).audit_events
    newest = [(e.caller, e.method, e.code) for e in events[:2]]
    create = "sse.initiatives.v1.InitiativeService/CreateInitiative"
    assert newest == [("anonymous", create, "UNAUTHENTICATED"), (key.name, create, "OK")]
    assert events[1].resource == "initiatives/audited-e2e"
    assert events[0].event_time.seconds >= events[1].event_time.seconds

    mine = stub.ListAuditEvents(
        messages.ListAuditEventsRequest(filter=f'caller = "{key.name}"'),
        metadata=bearer(ADMIN_KEY),
        timeout=CALL_TIMEOUT_S,
    ).audit_events
    assert [e.resource for e in mine] == ["initiatives/audited-e2e"]

    # The trail is for admins only.
    denied = rpc_error(
        lambda: stub.ListAuditEvents(messages.ListAuditEventsRequest(), metadata=bearer(secret), timeout=5)
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.server_env(OBSERVATORY_RATE_LIMIT_PER_SECOND="2", OBSERVATORY_RATE_LIMIT_BURST="5")
def test_a_burst_over_the_limit_gets_429_with_retry_after_and_resource_exhausted_with_retry_info(
    pb, raw_channel, gw
):
    # REST: the anonymous caller's bucket (per client address) runs dry after the burst.
    statuses = []
    for _ in range(8):
        response = requests.get(gw.url("/v1/initiatives/great-green-wall"), timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert statuses[:5] == [200] * 5, statuses
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == 8
    assert any(detail["@type"].endswith("RetryInfo") for detail in body["details"])

    # gRPC, from the same address: RESOURCE_EXHAUSTED with a RetryInfo detail.
    stub = pb.initiatives_pb2_grpc.InitiativeServiceStub(raw_channel)
    request = pb.initiatives_pb2.GetInitiativeRequest(name="initiatives/great-green-wall")
    error = rpc_error(lambda: stub.GetInitiative(request, timeout=5))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert retry, status
    # Another caller (the admin's key) has a bucket of its own.
    stub.GetInitiative(request, metadata=bearer(ADMIN_KEY), timeout=5)


def test_rest_writes_answer_401_with_www_authenticate_and_403_without_the_scope(gw, access_pb, raw_channel):
    anonymous = requests.delete(gw.url("/v1/initiatives/great-green-wall"), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json()["details"][0]["reason"] == "API_KEY_REQUIRED"
    _, law_key = create_key(access_pb, raw_channel, "Law partner", ["lawguide.write"])
    forbidden = requests.delete(
        gw.url("/v1/initiatives/great-green-wall"), headers={"Authorization": f"Bearer {law_key}"}, timeout=10
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["details"][0]["reason"] == "SCOPE_MISSING"
    still_there = requests.get(gw.url("/v1/initiatives/great-green-wall"), timeout=10).json()
    assert "deleteTime" not in still_there


def data_dir_of(server) -> str:
    return next(arg.split("=", 1)[1] for arg in server.process.args if arg.startswith("--data-dir="))


def keys_cli(server, *args) -> subprocess.CompletedProcess:
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    env = {name: value for name, value in os.environ.items() if not name.startswith("OBSERVATORY_")}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [str(binary), "keys", *args, f"--data-dir={data_dir_of(server)}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_keys_made_on_the_command_line_work_on_the_running_server_and_print_only_json(
    server, pb, raw_channel
):
    made = keys_cli(server, "create", "--display-name", "Partner X", "--scopes", "initiatives.write,read")
    lines = made.stdout.splitlines()
    assert len(lines) == 1, made.stdout
    key = json.loads(lines[0])
    assert key["name"].startswith("apiKeys/")
    assert key["key"].startswith("sse_")
    assert key["scopes"] == ["initiatives.write", "read"]

    deadline = time.monotonic() + REVOCATION_DEADLINE_S
    while True:
        try:
            create_initiative(pb, raw_channel, key["key"], "made-on-the-command-line")
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert time.monotonic() < deadline, "a key made on the command line did not work within 5 s"
            time.sleep(0.1)

    listed = [json.loads(line) for line in keys_cli(server, "list").stdout.splitlines()]
    assert [k["name"] for k in listed] == [key["name"]]
    assert all("key" not in k for k in listed), "list never shows a secret"

    revoked = json.loads(keys_cli(server, "revoke", key["name"]).stdout)
    assert revoked["revoke_time"]
    refused = refused_within_5_s(pb, raw_channel, key["key"], "cli-after-revoke")
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED


# --- the services apart: each in its own process, on its own database, one access store ------


def start_process(binary_name: str, workdir: Path, env_extra: dict, http: bool = False):
    """One observatory binary (`initiatives`, `law-guide`, `gateway`) serving on free ports."""
    from conftest import Server, free_port, wait_until_serving

    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory")).with_name(binary_name)
    target = f"127.0.0.1:{free_port()}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("OBSERVATORY_")}
    env.pop("DATABASE_URL", None)
    env.update(OBSERVATORY_ADMIN_KEY=ADMIN_KEY, NO_COLOR="1", **env_extra)
    command = [
        str(binary),
        "serve",
        f"--grpc-addr={target}",
        f"--data-dir={workdir / binary_name}",
        f"--metrics-addr=127.0.0.1:{free_port()}",
    ]
    http_address = None
    if http:
        http_address = f"127.0.0.1:{free_port()}"
        command.append(f"--http-addr={http_address}")
    log_path = workdir / f"{binary_name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    running = Server(process=process, target=target, log_path=log_path)
    wait_until_serving(running)
    return running, http_address


def test_services_apart_share_keys_and_the_audit_trail(tmp_path, pb, access_pb):
    access_store = f"sqlite://{tmp_path / 'access.sqlite'}?mode=rwc"
    apart = {"OBSERVATORY_ACCESS_DATABASE_URL": access_store}
    started = []
    try:
        initiatives, _ = start_process("initiatives", tmp_path, apart)
        started.append(initiatives)
        law_guide, _ = start_process("law-guide", tmp_path, apart)
        started.append(law_guide)
        gateway, http_address = start_process(
            "gateway",
            tmp_path,
            {
                "OBSERVATORY_INITIATIVES_URL": f"http://{initiatives.target}",
                "OBSERVATORY_LAW_GUIDE_URL": f"http://{law_guide.target}",
                "OBSERVATORY_INDICATORS_URL": f"http://{initiatives.target}",
                "OBSERVATORY_ACCESS_URL": f"http://{law_guide.target}",
            },
            http=True,
        )
        started.append(gateway)
        base = f"http://{http_address}"

        # Nothing is written without a key, through the gateway or straight to a service.
        anonymous = requests.post(f"{base}/v1/initiatives", json={"displayName": "x"}, timeout=10)
        assert anonymous.status_code == 401
        with grpc.insecure_channel(initiatives.target) as channel:
            refused = rpc_error(create_initiative, pb, channel, None, "apart-anonymous")
            assert refused.code() == grpc.StatusCode.UNAUTHENTICATED

        # A key made through the gateway (served by the law guide's process) writes on the
        # initiatives' process within 5 s.
        made = requests.post(
            f"{base}/v1/apiKeys",
            json={"displayName": "Partner apart", "scopes": ["initiatives.write"]},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        assert made.status_code == 200, made.text
        key = made.json()
        deadline = time.monotonic() + REVOCATION_DEADLINE_S
        while True:
            written = requests.post(
                f"{base}/v1/initiatives",
                params={"initiativeId": "apart-coop"},
                json={"displayName": "Coopérative à part"},
                headers={"Authorization": f"Bearer {key['key']}"},
                timeout=10,
            )
            if written.status_code == 200:
                break
            assert written.status_code == 401, written.text
            assert time.monotonic() < deadline, "the key did not reach the initiatives within 5 s"
            time.sleep(0.1)

        # Revoked through the gateway, refused by the initiatives' process within 5 s.
        revoked = requests.post(
            f"{base}/v1/{key['apiKey']['name']}:revoke",
            json={},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        assert revoked.status_code == 200
        deadline = time.monotonic() + REVOCATION_DEADLINE_S
        attempt = 0
        while True:
            attempt += 1
            after = requests.post(
                f"{base}/v1/initiatives",
                params={"initiativeId": f"apart-late-{attempt}"},
                json={"displayName": "Trop tard"},
                headers={"Authorization": f"Bearer {key['key']}"},
                timeout=10,
            )
            if after.status_code == 401:
                break
            assert after.status_code == 200, after.text
            assert time.monotonic() < deadline, "a revoked key still wrote after 5 s"
            time.sleep(0.1)

        # The initiatives' events reach the access store (relayed each second) and the trail.
        deadline = time.monotonic() + 10
        while True:
            trail = requests.get(
                f"{base}/v1/auditEvents",
                params={"filter": 'service = "initiatives" AND code = "OK"'},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                timeout=10,
            )
            assert trail.status_code == 200, trail.text
            resources = [event["resource"] for event in trail.json().get("auditEvents", [])]
            if "initiatives/apart-coop" in resources:
                break
            assert time.monotonic() < deadline, f"the initiatives' events never reached the trail: {resources}"
            time.sleep(0.2)
    finally:
        for process in reversed(started):
            process.stop()
