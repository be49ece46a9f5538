"""Hostile input against the built `observatory serve`, on SQLite and on PostgreSQL: a few thousand
generated filters, order_bys, page tokens (forged from real ones), request bodies and raw message
bytes, over gRPC and over REST, within a time budget.

Whatever arrives, the answer is the caller's error or a success: never INTERNAL or UNKNOWN (a
server failure), never a 5xx, never trailers too large for the client; the server log shows no
panic, no internal error and no audit event it could not record, and health is still SERVING
at the end. The generator is seeded
(FUZZ_SEED, printed on failure) so a failing run can be replayed."""

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import ADMIN_KEY, REPO, CallDefaults, Server, free_port, wait_until_serving

# Each database gets this long; both together stay within a minute.
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "25"))
# And at most this many calls, so a fast machine does not spend the whole budget.
MAX_CALLS = int(os.environ.get("FUZZ_MAX_CALLS", "3000"))
HTTP_TIMEOUT_S = 10
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")

# Codes that mean the server failed, not the caller.
SERVER_FAILURES = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}

# What filters, order_bys and bodies are made of: the fields each List declares, fields it
# does not, operators, values of every type, and the characters parsers and databases trip on.
FIELDS = [
    "name", "display_name", "description", "countries", "sdg_goals", "sdg_targets", "legal_form",
    "status", "start_date", "create_time", "update_time", "delete_time", "jurisdiction", "level",
    "kind", "topics", "adoption_date", "title", "language", "ref_area", "time_period", "value",
    "year", "initiative", "indicator", "source", "source.title", "caller", "method", "code",
    "event_time", "scopes", "unknown_field", "a.b.c", "_", "x" * 300,
]
OPERATORS = ["=", "!=", "<", "<=", ">", ">=", ":", "!", "==", "=<"]
NASTY = [
    "\x00", "\x01", "\x07", "\x08", "\x1b[31m", "\x7f", "\r", "\x85", "\u2028", "\ufeff", "\ud7ff",
    "%", "_", "\\", "'", '"', "`", "*", "%00", "\\x00", "'; DROP TABLE initiatives; --", "é", "中文",
    "🦀", "\u0301", "NaN", "inf", "-inf", "1e999", "-0", "9" * 30, "2024-02-30", "2024-13-01",
    "0000-00-00", "2024-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "true", "null",
]
VALUES = [
    "FR", "8", "8.5", "COOPERATIVE", "LEGAL_FORM_COOPERATIVE", "ACTIVE", "2016", "2016-05",
    "initiatives/tzcld", "legalTexts/x", "indicators/-", "-3", "2.5", "*", "gre*",
]
ORDER_FIELDS = [
    "name", "display_name", "start_date", "create_time", "update_time", "jurisdiction",
    "adoption_date", "publication_date", "time_period", "period_start", "value", "event_time",
    "colour", "",
]


def nasty_text(rng: random.Random, length: int = 12) -> str:
    parts = []
    while sum(len(part) for part in parts) < length:
        roll = rng.random()
        if roll < 0.3:
            parts.append(rng.choice(NASTY))
        elif roll < 0.5:
            parts.append(chr(rng.randrange(0, 0x250)))
        elif roll < 0.55:
            parts.append(chr(rng.choice([rng.randrange(0x250, 0xD800), rng.randrange(0xE000, 0x110000)])))
        else:
            parts.append(rng.choice(VALUES))
    return "".join(parts)


def value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(VALUES)
    if roll < 0.7:
        text = nasty_text(rng, rng.randrange(1, 16))
        quote = rng.choice(['"', "'"])
        return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote
    if roll < 0.9:
        return rng.choice(NASTY)
    return nasty_text(rng, rng.randrange(1, 40))


def filter_text(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if roll < 0.05:
        return nasty_text(rng, rng.randrange(0, 60))
    if roll < 0.15 and depth < 4:
        return "(" + filter_text(rng, depth + 1) + rng.choice([")", ")", ""])
    if roll < 0.3 and depth < 4:
        joiner = rng.choice([" AND ", " OR ", " ", " and ", " AND AND ", "\t", "\n", " OR\r"])
        return filter_text(rng, depth + 1) + joiner + filter_text(rng, depth + 1)
    if roll < 0.4 and depth < 4:
        return rng.choice(["NOT ", "-", "NOT", "- "]) + filter_text(rng, depth + 1)
    if roll < 0.5:
        return value(rng)
    spaces = rng.choice(["", " "])
    return f"{rng.choice(FIELDS)}{spaces}{rng.choice(OPERATORS)}{spaces}{value(rng)}"


def order_by_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.1:
        return nasty_text(rng, rng.randrange(0, 40))
    if roll < 0.13:
        return ",".join(rng.choice(ORDER_FIELDS) for _ in range(rng.randrange(100, 1500)))
    clauses = []
    for _ in range(rng.randrange(0, 4)):
        direction = rng.choice(["", " desc", " asc", " DESC", " sideways", " desc desc"])
        clauses.append(rng.choice(ORDER_FIELDS) + direction)
    return rng.choice([",", ", ", " ,"]).join(clauses)


def json_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if roll < 0.15 and depth < 3:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if roll < 0.25 and depth < 3:
        return {nasty_text(rng, 3): json_value(rng, depth + 1) for _ in range(rng.randrange(0, 3))}
    return rng.choice(
        [
            None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64, 1.5, -0.0, 1e308, 2.2e-308,
            "", "2024", "tzcld", nasty_text(rng, 8), "\x00", "x" * 500,
        ]
    )


def forged_token(rng: random.Random, real: str) -> str:
    """A token with a real query fingerprint (so it gets past that check) and forged keys, or
    plain garbage."""
    roll = rng.random()
    if roll < 0.15:
        return nasty_text(rng, rng.randrange(1, 60))
    if roll < 0.25:
        return base64.urlsafe_b64encode(os.urandom(rng.randrange(1, 80))).decode().rstrip("=")
    try:
        padded = real + "=" * (-len(real) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        decoded = {"q": "0" * 16, "k": []}
    keys = list(decoded.get("k", [])) if isinstance(decoded, dict) else []
    if keys and rng.random() < 0.8:
        keys[rng.randrange(len(keys))] = json_value(rng)
    else:
        keys = [json_value(rng) for _ in range(rng.randrange(0, 4))]
    forged = {"q": decoded.get("q", "") if isinstance(decoded, dict) else "", "k": keys}
    if rng.random() < 0.1:
        forged = json_value(rng)
    return base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")


def body(rng: random.Random) -> bytes:
    """A REST body: JSON of the right shape with wrong values, of the wrong shape, or not JSON."""
    roll = rng.random()
    if roll < 0.5:
        fields = ["displayName", "description", "countries", "sdgGoals", "legalForm", "startDate",
                  "website", "sources", "identifiers", "location", "name", "etag", "unknown"]
        document = {rng.choice(fields): json_value(rng) for _ in range(rng.randrange(0, 6))}
        if rng.random() < 0.5:
            document["displayName"] = nasty_text(rng, rng.randrange(1, 30))
        return json.dumps(document).encode()
    if roll < 0.7:
        return json.dumps(json_value(rng)).encode()
    if roll < 0.85:
        return os.urandom(rng.randrange(0, 64))
    text = json.dumps({"displayName": "x" * rng.randrange(0, 50)})
    return text[: rng.randrange(0, len(text) + 1)].encode()


def raw_message(rng: random.Random) -> bytes:
    """Bytes on the wire where a protobuf message should be."""
    roll = rng.random()
    if roll < 0.4:
        return os.urandom(rng.randrange(0, 48))
    # Field 1 (most requests' name or page_size) with invalid UTF-8, a cut varint or a
    # wrong wire type.
    return rng.choice(
        [
            b"\x0a\x02\xff\xfe",
            b"\x08\xff",
            b"\x0d\x00\x00\x00\x00",
            b"\x0a\x40abc",
            b"\x0a\x05\xc3\x28abc",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"\x1a\x03\x00\x01\x02",
        ]
    )


class Fuzz:
    """Calls, and the failures seen."""

    def __init__(self, seed: int, target: str, http_base: str, pb):
        self.rng = random.Random(seed)
        self.raw = grpc.insecure_channel(target)
        self.channel = grpc.intercept_channel(self.raw, CallDefaults(ADMIN_KEY))
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        self.base = http_base
        self.pb = pb
        self.calls = 0
        self.failures: list[str] = []
        self.tokens: dict[str, str] = {}

    def grpc_call(self, method: str, request_class, fields: dict, raw: bytes | None = None):
        self.calls += 1
        call = self.channel.unary_unary(
            method,
            request_serializer=(lambda message: message) if raw is not None else request_class.SerializeToString,
            response_deserializer=lambda data: data,
        )
        try:
            if raw is not None:
                call(raw)
            else:
                call(request_class(**fields))
            return None
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            if code in SERVER_FAILURES or "metadata" in details.lower():
                self.failures.append(f"gRPC {method} {fields!r:.300} raw={raw!r:.80} -> {code} {details[:200]}")
            return error
        except ValueError:
            # The Python client refuses to encode a string it cannot (lone surrogates): nothing
            # was sent.
            return None

    def rest(self, method: str, path: str, params=None, data: bytes | None = None):
        self.calls += 1
        try:
            response = self.http.request(method, self.base + path, params=params, data=data, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as error:
            self.failures.append(f"REST {method} {path} {params!r:.200} -> {error!r:.200}")
            return None
        if response.status_code >= 500:
            self.failures.append(
                f"REST {method} {path} {params!r:.200} body={data!r:.100} -> {response.status_code} {response.text[:200]}"
            )
        return response


def list_methods(pb) -> list[tuple[str, object, dict]]:
    """(method, request class, fixed fields) of every List and search a partner may page."""
    return [
        ("/sse.initiatives.v1.InitiativeService/ListInitiatives", pb.initiatives.ListInitiativesRequest, {}),
        ("/sse.lawguide.v1.LawGuideService/ListLegalTexts", pb.lawguide.ListLegalTextsRequest, {}),
        ("/sse.indicators.v1.IndicatorService/ListIndicators", pb.indicators.ListIndicatorsRequest, {}),
        (
            "/sse.indicators.v1.IndicatorService/ListObservations",
            pb.indicators.ListObservationsRequest,
            {"parent": "indicators/-"},
        ),
        ("/sse.access.v1.AccessService/ListApiKeys", pb.access.ListApiKeysRequest, {}),
        ("/sse.access.v1.AccessService/ListAuditEvents", pb.access.ListAuditEventsRequest, {}),
    ]


REST_LISTS = ["/v1/initiatives", "/v1/legalTexts", "/v1/indicators", "/v1/indicators/-/observations", "/v1/apiKeys"]
RAW_METHODS = [
    "/sse.initiatives.v1.InitiativeService/GetInitiative",
    "/sse.initiatives.v1.InitiativeService/ListInitiatives",
    "/sse.initiatives.v1.InitiativeService/CreateInitiative",
    "/sse.initiatives.v1.InitiativeService/UpdateInitiative",
    "/sse.lawguide.v1.LawGuideService/SearchLegalTexts",
    "/sse.lawguide.v1.LawGuideService/CreateLegalText",
    "/sse.indicators.v1.IndicatorService/ListObservations",
    "/sse.indicators.v1.IndicatorService/CreateObservation",
    "/sse.access.v1.AccessService/CreateApiKey",
]


def run_fuzz(fuzz: Fuzz, budget_s: float) -> None:
    rng = fuzz.rng
    lists = list_methods(fuzz.pb)
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline and fuzz.calls < MAX_CALLS:
        roll = rng.random()
        method, request_class, fixed = rng.choice(lists)
        if roll < 0.35:
            fields = dict(fixed, filter=filter_text(rng), order_by=order_by_text(rng) if rng.random() < 0.3 else "")
            fuzz.grpc_call(method, request_class, fields)
        elif roll < 0.5:
            fields = dict(fixed, order_by=order_by_text(rng), page_size=rng.choice([0, 1, 2, -1, 10**6]))
            fuzz.grpc_call(method, request_class, fields)
        elif roll < 0.65:
            # A real token for a real order, then a forgery of it.
            order_by = rng.choice(["", "create_time desc", "name", "display_name", "value", "event_time",
                                   "adoption_date", "start_date desc"])
            key = f"{method}|{order_by}"
            if key not in fuzz.tokens:
                fuzz.calls += 1
                module = sys.modules[request_class.__module__]
                response_class = getattr(module, request_class.__name__.replace("Request", "Response"))
                call = fuzz.channel.unary_unary(method, request_class.SerializeToString, response_class.FromString)
                try:
                    fuzz.tokens[key] = call(request_class(**fixed, order_by=order_by, page_size=1)).next_page_token
                except grpc.RpcError as error:
                    if error.code() in SERVER_FAILURES:
                        fuzz.failures.append(f"gRPC {method} order_by={order_by} -> {error.code()}")
                    fuzz.tokens[key] = ""
            token = forged_token(rng, fuzz.tokens[key])
            fuzz.grpc_call(method, request_class, dict(fixed, order_by=order_by, page_size=1, page_token=token))
        elif roll < 0.72:
            fuzz.grpc_call(rng.choice(RAW_METHODS), None, {}, raw=raw_message(rng))
        elif roll < 0.78:
            initiative = fuzz.pb.initiatives.Initiative(
                display_name=nasty_text(rng, rng.randrange(1, 40)),
                description=nasty_text(rng, rng.randrange(0, 40)),
                countries=[rng.choice(["FR", "ES", nasty_text(rng, 2)])],
            )
            fields = {"initiative": initiative, "request_id": rng.choice(["", nasty_text(rng, 10), str(uuid.uuid4())])}
            fuzz.grpc_call("/sse.initiatives.v1.InitiativeService/CreateInitiative",
                           fuzz.pb.initiatives.CreateInitiativeRequest, fields)
        elif roll < 0.88:
            params = {}
            for name, make in [("filter", filter_text), ("orderBy", order_by_text),
                               ("pageToken", lambda r: forged_token(r, "")), ("pageSize", lambda r: str(r.randrange(-5, 5000)))]:
                if rng.random() < 0.5:
                    params[name] = make(rng)
            fuzz.rest("GET", rng.choice(REST_LISTS), params=params)
        elif roll < 0.97:
            target = rng.choice([
                ("POST", "/v1/initiatives"),
                ("POST", "/v1/legalTexts"),
                ("POST", "/v1/indicators"),
                ("POST", "/v1/indicators/-/observations"),
                ("PATCH", "/v1/initiatives/tzcld"),
                ("POST", "/v1/legalTexts:search"),
                ("POST", "/v1/apiKeys"),
            ])
            params = {"updateMask": nasty_text(rng, 8)} if target[0] == "PATCH" and rng.random() < 0.5 else None
            fuzz.rest(target[0], target[1], params=params, data=body(rng))
        else:
            # Paths and query parameters the routes do not expect.
            path = "/v1/" + "/".join(rng.choice(["initiatives", "legalTexts", "%00", "..", "%ZZ", nasty_text(rng, 5), "x" * 3000])
                                     for _ in range(rng.randrange(1, 4)))
            fuzz.rest(rng.choice(["GET", "POST", "DELETE", "PATCH"]), path.replace("?", "%3F").replace("#", "%23"),
                      params={nasty_text(rng, 4): nasty_text(rng, 6)})


def health_status(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


@pytest.fixture(scope="module")
def fuzz_pb(pb):
    import importlib

    return type(
        "Contracts",
        (),
        {
            "initiatives": importlib.import_module("sse.initiatives.v1.initiatives_pb2"),
            "lawguide": importlib.import_module("sse.lawguide.v1.law_guide_pb2"),
            "indicators": importlib.import_module("sse.indicators.v1.indicators_pb2"),
            "access": importlib.import_module("sse.access.v1.access_pb2"),
        },
    )


def postgres_database():
    """A fresh database on TEST_POSTGRES_URL's server: its URL, and how to drop it."""
    if shutil.which("psql") is None:
        pytest.fail("the PostgreSQL run needs the psql client to create its database")
    name = f"observatory_fuzz_{uuid.uuid4().hex}"
    base, _, query = POSTGRES_URL.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    subprocess.run(["psql", POSTGRES_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"'],
                   check=True, capture_output=True)

    def drop():
        subprocess.run(["psql", POSTGRES_URL, "-q", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                       check=False, capture_output=True)

    return url, drop


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_hostile_input_never_fails_the_server(database, fuzz_pb):
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    seed = int(os.environ.get("FUZZ_SEED", random.randrange(2**32)))
    drop = None
    with tempfile.TemporaryDirectory(prefix="observatory-fuzz-") as workdir:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("OBSERVATORY_") and name != "DATABASE_URL"}
        # The admin key's calls are many and fast: the rate limit is not what is tested here.
        env.update(OBSERVATORY_ADMIN_KEY=ADMIN_KEY, NO_COLOR="1",
                   OBSERVATORY_RATE_LIMIT_PER_SECOND="100000", OBSERVATORY_RATE_LIMIT_BURST="100000")
        if database == "postgres":
            url, drop = postgres_database()
            env["DATABASE_URL"] = url
        target, http_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        command = [str(binary), "serve", f"--grpc-addr={target}", f"--http-addr={http_address}",
                   f"--data-dir={Path(workdir) / 'data'}"]
        log_path = Path(workdir) / "output.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        server = Server(process=process, target=target, log_path=log_path)
        fuzz = None
        try:
            wait_until_serving(server)
            fuzz = Fuzz(seed, target, f"http://{http_address}", fuzz_pb)
            started = time.monotonic()
            run_fuzz(fuzz, BUDGET_S)
            elapsed = time.monotonic() - started

            # The two shapes of the original report, each once: 4 MB over gRPC, 12 KB and 4 MB
            # over REST.
            huge = "display_name," * (4 * 1024 * 1024 // 13)
            error = fuzz.grpc_call("/sse.initiatives.v1.InitiativeService/ListInitiatives",
                                   fuzz_pb.initiatives.ListInitiativesRequest, {"order_by": huge})
            assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
            assert len(error.details()) < 1024
            for order_by in ["x" * 12_000, huge]:
                response = fuzz.rest("GET", "/v1/initiatives", params={"orderBy": order_by})
                assert response is not None and 400 <= response.status_code < 500, response
                assert len(response.content) < 4096, f"a {len(response.content)}-byte answer"

            assert not fuzz.failures, (
                f"seed {seed}: {len(fuzz.failures)} of {fuzz.calls} calls failed the server:\n"
                + "\n".join(fuzz.failures[:20])
            )
            assert fuzz.calls >= 500, f"only {fuzz.calls} calls in {elapsed:.0f} s"
            assert process.poll() is None, "the server exited"
            assert health_status(target) == health_pb2.HealthCheckResponse.SERVING
            log_text = server.log()
            assert "panicked" not in log_text, log_text[-4000:]
            assert "internal error" not in log_text, log_text[-4000:]
            assert "cannot record an audit event" not in log_text, log_text[-4000:]
            # The trace layer logs a call it counts as a server failure: none was.
            failures = [line for line in log_text.splitlines() if "response failed" in line]
            assert not failures, "\n".join(failures[:10])
            print(f"{database}: {fuzz.calls} calls in {elapsed:.1f} s, seed {seed}", file=sys.stderr)
        except BaseException:
            print(f"--- FUZZ_SEED={seed}; observatory output ---\n{server.log()[-20000:]}", file=sys.stderr)
            raise
        finally:
            if fuzz is not None:
                fuzz.raw.close()
            exit_code = server.stop()
            if drop is not None:
                drop()
        assert exit_code == 0, f"observatory exited with {exit_code} after SIGTERM"
