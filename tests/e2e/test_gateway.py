"""End-to-end tests of the web gateway of `observatory serve`, on its HTTP port, with an
independent HTTP client (`requests`): REST/JSON transcoded from the `google.api.http`
annotations of the three contracts, the OpenAPI 3.1 document, gRPC-Web, CORS and the SDMX data
endpoint.

What the gateway must do is what grpc-gateway and Envoy's gRPC-JSON transcoder do: bodies and
responses in the proto3 JSON mapping, query parameters mapped to request fields, errors as the
google.rpc.Status in JSON with grpc-gateway's HTTP statuses. The expectations below are computed
from the contracts themselves (the Python descriptors generated from proto/), not from the
gateway's code, and every REST answer is compared with the gRPC answer to the same request.

Every REST route of /openapi.json must be exercised on its success path by some test of this
module: the tests record what they call, and the last tests of the module check the coverage and
validate every answer recorded against the schema the document gives for it."""

import base64
import copy
import importlib
import json
import re
import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass, field
from xml.etree import ElementTree

import grpc
import jsonschema
import pytest
import requests
from google.protobuf import descriptor, json_format
from google.rpc import error_details_pb2, status_pb2
from openapi_spec_validator import OpenAPIV31SpecValidator

from conftest import ADMIN_KEY
from test_indicators import (
    CSV_HEADER,
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    STRUCTURE_MEDIA_TYPE,
    UNCCD_2020,
    read_csv,
    read_json,
    read_structure,
    sdmx_rows,
    source_id,
)
from test_observatory import DOMAIN

HTTP_TIMEOUT_S = 10
GATEWAY_STARTUP_TIMEOUT_S = 15

SERVICES = {
    "sse.initiatives.v1.InitiativeService": "sse.initiatives.v1.initiatives_pb2",
    "sse.indicators.v1.IndicatorService": "sse.indicators.v1.indicators_pb2",
    "sse.lawguide.v1.LawGuideService": "sse.lawguide.v1.law_guide_pb2",
    "sse.access.v1.AccessService": "sse.access.v1.access_pb2",
}
SEEDED_INITIATIVES = {"great-green-wall", "tzcld", "la-guilde", "mondragon"}
SEEDED_LEGAL_TEXTS = 26
SEEDED_OBSERVATIONS = 19
ORIGIN = "http://localhost:3000"

# grpc-gateway's HTTP status for each gRPC code (runtime.HTTPStatusFromCode).
HTTP_STATUS = {
    3: 400,  # INVALID_ARGUMENT
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    12: 501,  # UNIMPLEMENTED
    14: 503,  # UNAVAILABLE
}

# Every successful REST call made by the tests of this module: (HTTP method, path, parsed body).
EXERCISED: list[tuple[str, str, object]] = []



# --- fixtures and clients --------------------------------------------------------------------


@pytest.fixture(scope="session")
def stubs(pb):
    """The generated modules of the three contracts, by short name (the `pb` fixture generated
    every package under proto/ and put them on sys.path)."""
    return {
        "initiatives": pb.initiatives_pb2,
        "initiatives_grpc": pb.initiatives_pb2_grpc,
        "indicators": importlib.import_module("sse.indicators.v1.indicators_pb2"),
        "indicators_grpc": importlib.import_module("sse.indicators.v1.indicators_pb2_grpc"),
        "law_guide": importlib.import_module("sse.lawguide.v1.law_guide_pb2"),
        "law_guide_grpc": importlib.import_module("sse.lawguide.v1.law_guide_pb2_grpc"),
    }


@dataclass
class Gateway:
    """An HTTP client of the gateway that records every successful REST call."""

    base: str
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return self.base + path

    def call(self, method: str, path: str, *, headers=None, **kwargs) -> requests.Response:
        sent = {"Authorization": f"Bearer {ADMIN_KEY}", **(headers or {})}
        try:
            response = self.session.request(method, self.url(path), headers=sent, timeout=HTTP_TIMEOUT_S, **kwargs)
        except requests.ConnectionError as error:
            pytest.fail(f"{method} {path}: the gateway closed the connection without an answer ({error})")
        if 200 <= response.status_code < 300 and urllib.parse.urlsplit(response.url).path.startswith("/v1/"):
            EXERCISED.append((method, urllib.parse.urlsplit(response.url).path, parsed_body(response)))
        return response

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


def parsed_body(response: requests.Response):
    """The JSON of a response, the list of objects of a newline-delimited JSON stream, or the
    bytes of a document of another media type (an SDMX export)."""
    if "json" not in response.headers.get("content-type", "json"):
        return response.content
    try:
        return response.json()
    except ValueError:
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]


@pytest.fixture
def gw(server):
    """The gateway of the server under test, once it answers on its HTTP port."""
    address = next(arg.split("=", 1)[1] for arg in server.process.args if arg.startswith("--http-addr="))
    gateway = Gateway(f"http://{address}")
    deadline = time.monotonic() + GATEWAY_STARTUP_TIMEOUT_S
    while True:
        try:
            if requests.get(gateway.url("/openapi.json"), timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the gateway did not answer on {address} within {GATEWAY_STARTUP_TIMEOUT_S}s")
        time.sleep(0.1)
    yield gateway
    gateway.session.close()


@pytest.fixture
def openapi(gw):
    response = requests.get(gw.url("/openapi.json"), timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


@pytest.fixture
def grpc_clients(stubs, channel):
    """gRPC clients of the three services, for comparing REST answers with gRPC ones."""
    return {
        "initiatives": stubs["initiatives_grpc"].InitiativeServiceStub(channel),
        "indicators": stubs["indicators_grpc"].IndicatorServiceStub(channel),
        "law_guide": stubs["law_guide_grpc"].LawGuideServiceStub(channel),
    }


# --- the proto3 JSON mapping, checked against the descriptors --------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z$")
INT64_TYPES = {
    descriptor.FieldDescriptor.TYPE_INT64,
    descriptor.FieldDescriptor.TYPE_UINT64,
    descriptor.FieldDescriptor.TYPE_SINT64,
    descriptor.FieldDescriptor.TYPE_FIXED64,
    descriptor.FieldDescriptor.TYPE_SFIXED64,
}
INT32_TYPES = {
    descriptor.FieldDescriptor.TYPE_INT32,
    descriptor.FieldDescriptor.TYPE_UINT32,
    descriptor.FieldDescriptor.TYPE_SINT32,
    descriptor.FieldDescriptor.TYPE_FIXED32,
    descriptor.FieldDescriptor.TYPE_SFIXED32,
}


def check_json(value, message: descriptor.Descriptor, where: str = "$") -> None:
    """Asserts that `value` is `message` written in the proto3 JSON mapping: lowerCamelCase
    keys, enums by name, 64-bit integers as strings, RFC 3339 timestamps in UTC ending in Z,
    bytes in base64."""
    assert isinstance(value, dict), f"{where}: {message.full_name} is not a JSON object: {value!r}"
    by_json_name = {f.json_name: f for f in message.fields}
    for key, item in value.items():
        assert key in by_json_name, (
            f"{where}: `{key}` is not the JSON (lowerCamelCase) name of a field of {message.full_name};"
            f" fields: {sorted(by_json_name)}"
        )
        f = by_json_name[key]
        path = f"{where}.{key}"
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            assert isinstance(item, dict), f"{path}: a map is a JSON object"
            for map_key, map_value in item.items():
                check_single(map_value, f.message_type.fields_by_name["value"], f"{path}[{map_key!r}]")
        elif f.is_repeated:
            assert isinstance(item, list), f"{path}: a repeated field is a JSON array, not {item!r}"
            for index, element in enumerate(item):
                check_single(element, f, f"{path}[{index}]")
        else:
            check_single(item, f, path)


def check_single(item, f: descriptor.FieldDescriptor, path: str) -> None:
    kind = f.type
    if kind == descriptor.FieldDescriptor.TYPE_MESSAGE:
        name = f.message_type.full_name
        if name == "google.protobuf.Timestamp":
            assert isinstance(item, str) and TIMESTAMP.match(item), f"{path}: not an RFC 3339 UTC timestamp: {item!r}"
        elif name == "google.protobuf.FieldMask":
            assert isinstance(item, str), f"{path}: a FieldMask is a string"
        elif name == "google.protobuf.Duration":
            assert isinstance(item, str) and item.endswith("s"), f"{path}: a Duration is a string like 1.5s"
        else:
            check_json(item, f.message_type, path)
    elif kind == descriptor.FieldDescriptor.TYPE_ENUM:
        names = {value.name for value in f.enum_type.values}
        assert isinstance(item, str) and item in names, f"{path}: an enum is written by name, not {item!r}"
    elif kind in INT64_TYPES:
        assert isinstance(item, str) and re.fullmatch(r"-?\d+", item), f"{path}: a 64-bit integer is a string"
    elif kind in INT32_TYPES:
        assert isinstance(item, int) and not isinstance(item, bool), f"{path}: a 32-bit integer is a number"
    elif kind in (descriptor.FieldDescriptor.TYPE_DOUBLE, descriptor.FieldDescriptor.TYPE_FLOAT):
        assert (isinstance(item, (int, float)) and not isinstance(item, bool)) or item in (
            "NaN",
            "Infinity",
            "-Infinity",
        ), f"{path}: not a number: {item!r}"
    elif kind == descriptor.FieldDescriptor.TYPE_BOOL:
        assert isinstance(item, bool), f"{path}: not a boolean: {item!r}"
    elif kind == descriptor.FieldDescriptor.TYPE_STRING:
        assert isinstance(item, str), f"{path}: not a string: {item!r}"
    elif kind == descriptor.FieldDescriptor.TYPE_BYTES:
        assert isinstance(item, str), f"{path}: bytes are a base64 string"
        base64.b64decode(item, validate=True)


def same_as_grpc(rest_json, grpc_message) -> None:
    """The REST answer reads (with the reference protobuf JSON parser, unknown fields refused) as
    exactly the message gRPC answers."""
    check_json(rest_json, grpc_message.DESCRIPTOR)
    parsed = json_format.ParseDict(rest_json, type(grpc_message)())
    assert parsed == grpc_message, f"REST gave\n{parsed}\ngRPC gave\n{grpc_message}"


def status_of(response: requests.Response, code: int) -> dict:
    """The google.rpc.Status JSON of an error answer, checked for its code and HTTP status."""
    assert (
        response.status_code == HTTP_STATUS[code]
    ), f"gRPC code {code} answered with HTTP {response.status_code}, not {HTTP_STATUS[code]}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"code", "message", "details"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    for detail in body.get("details", []):
        assert detail["@type"].startswith("type.googleapis.com/"), detail
    # The reference JSON parser reads it as a google.rpc.Status with its details.
    json_format.ParseDict(body, status_pb2.Status())
    return body


def detail(body: dict, kind: str):
    found = [d for d in body.get("details", []) if d["@type"] == f"type.googleapis.com/google.rpc.{kind}"]
    assert found, f"no {kind} among the details of {body}"
    return found[0]


def etag_header(response: requests.Response) -> str:
    assert "ETag" in response.headers, f"no ETag header: {dict(response.headers)}"
    return response.headers["ETag"]


# --- the contracts' routes, read from the descriptors ----------------------------------------

WELL_KNOWN_SCALARS = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}


@dataclass
class Binding:
    verb: str
    template: str
    body: str
    response_body: str
    method: descriptor.MethodDescriptor

    @property
    def variables(self) -> list[tuple[str, str]]:
        """(field path, pattern) of each path variable."""
        return [(name, pattern or "*") for name, pattern in re.findall(r"\{([^}=]+)(?:=([^}]*))?\}", self.template)]

    @property
    def shape(self) -> str:
        """The path with each wildcard as `{}`: `/v1/indicators/{}/observations/{}`."""
        return re.sub(r"\{([^}=]+)(?:=([^}]*))?\}", lambda m: re.sub(r"\*\*?", "{}", m.group(2) or "*"), self.template)


def annotated_bindings(stubs) -> list[Binding]:
    from google.api import annotations_pb2

    bindings = []
    for service_name, module_name in SERVICES.items():
        module = importlib.import_module(module_name)
        service = module.DESCRIPTOR.services_by_name[service_name.rsplit(".", 1)[1]]
        for method in service.methods:
            options = method.GetOptions()
            assert options.HasExtension(annotations_pb2.http), f"{method.full_name} has no google.api.http"
            rule = options.Extensions[annotations_pb2.http]
            for binding in [rule, *rule.additional_bindings]:
                verb = binding.WhichOneof("pattern")
                assert verb in ("get", "put", "post", "patch", "delete"), f"{method.full_name}: {verb}"
                bindings.append(
                    Binding(verb.upper(), getattr(binding, verb), binding.body, binding.response_body, method)
                )
    return bindings


def openapi_shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def openapi_operations(document) -> dict[tuple[str, str], dict]:
    """{(METHOD, OpenAPI path): operation}."""
    methods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in methods
    }


def path_regex(openapi_path: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", openapi_path)
    return re.compile("^" + "".join("[^/:]+" if part.startswith("{") else re.escape(part) for part in parts) + "$")


def expected_query_parameters(binding: Binding) -> set[str]:
    """The query parameters grpc-gateway accepts for a binding: every field of the request that
    neither the path nor the body sets, nested messages as dotted paths (JSON names)."""
    if binding.body == "*":
        return set()
    bound = {variable.split(".")[0] for variable, _ in binding.variables}

    def names(message: descriptor.Descriptor, prefix: str, depth: int) -> set[str]:
        out = set()
        for f in message.fields:
            if prefix == "" and (f.name in bound or f.name == binding.body):
                continue
            if f.message_type is not None and f.message_type.full_name not in WELL_KNOWN_SCALARS:
                if not f.is_repeated and depth < 3:
                    out |= names(f.message_type, f"{prefix}{f.json_name}.", depth + 1)
                continue
            out.add(prefix + f.json_name)
        return out

    return names(binding.method.input_type, "", 0)


def resolve(document, schema: dict) -> dict:
    """The schema a reference names, through the wrappers the document puts around a field's
    schema: `null` (the proto3 JSON mapping's unset) or `""` allowed beside it, `readOnly`, an
    enum given by name or by number (the name is the form checked here), and the empty answer
    to a request with validateOnly."""
    while True:
        if "$ref" in schema:
            assert schema["$ref"].startswith("#/components/schemas/"), schema
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        elif "anyOf" in schema:
            kept = [branch for branch in schema["anyOf"]
                    if branch.get("type") != "null" and branch.get("const") != "" and branch.get("maxProperties") != 0]
            if len(kept) == 2 and {branch.get("type") for branch in kept} == {"string", "integer"}:
                kept = [branch for branch in kept if branch["type"] == "string"]
            assert len(kept) == 1, schema
            schema = kept[0]
        else:
            return schema


def check_message_schema(document, schema: dict, message: descriptor.Descriptor, seen: set) -> None:
    """The schema describes every field of `message` under its JSON name, with its JSON type."""
    if message.full_name in seen:
        return
    seen.add(message.full_name)
    schema = resolve(document, schema)
    assert schema.get("type") == "object", f"{message.full_name}: {schema}"
    properties = schema.get("properties", {})
    assert set(properties) == {
        f.json_name for f in message.fields
    }, f"{message.full_name}: the schema's properties {sorted(properties)} are not the fields' JSON names"
    for f in message.fields:
        check_field_schema(document, properties[f.json_name], f, seen, f"{message.full_name}.{f.json_name}")


def check_field_schema(document, schema: dict, f: descriptor.FieldDescriptor, seen: set, where: str) -> None:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        assert resolve(document, schema).get("type") == "object", where
        return
    if f.is_repeated:
        schema = resolve(document, schema)
        assert schema.get("type") == "array", f"{where} is repeated: {schema}"
        schema = schema["items"]
    schema = resolve(document, schema)
    kind = f.type
    if kind == descriptor.FieldDescriptor.TYPE_MESSAGE:
        name = f.message_type.full_name
        if name == "google.protobuf.Timestamp":
            assert schema.get("type") == "string" and schema.get("format") == "date-time", f"{where}: {schema}"
        elif name in WELL_KNOWN_SCALARS:
            assert schema.get("type") == "string", f"{where}: {schema}"
        else:
            check_message_schema(document, schema, f.message_type, seen)
    elif kind == descriptor.FieldDescriptor.TYPE_ENUM:
        assert schema.get("type") == "string", f"{where}: {schema}"
        # Every name but the zero value, which a required field or a list element refuses; a
        # query parameter also takes numbers.
        names = {value for value in schema.get("enum", []) if not value.isdigit()}
        every = {value.name for value in f.enum_type.values}
        assert every - {f.enum_type.values[0].name} <= names <= every, f"{where}: {schema}"
    elif kind in INT64_TYPES:
        assert schema.get("type") == "string", f"{where}: 64-bit integers are strings in JSON: {schema}"
    elif kind in INT32_TYPES:
        assert schema.get("type") == "integer", f"{where}: {schema}"
    elif kind in (descriptor.FieldDescriptor.TYPE_DOUBLE, descriptor.FieldDescriptor.TYPE_FLOAT):
        assert schema.get("type") == "number", f"{where}: {schema}"
    elif kind == descriptor.FieldDescriptor.TYPE_BOOL:
        assert schema.get("type") == "boolean", f"{where}: {schema}"
    else:  # string, bytes
        assert schema.get("type") == "string", f"{where}: {schema}"


# --- JSON bodies for writes ------------------------------------------------------------------


def initiative_json(**fields) -> dict:
    body = {
        "displayName": "Coopérative REST e2e",
        "description": "A cooperative created through the REST gateway by the end-to-end suite.",
        "legalForm": "LEGAL_FORM_COOPERATIVE",
        "status": "STATUS_ACTIVE",
        "countries": ["FR"],
        "territories": ["FR-ARA"],
        "sdgGoals": [8],
        "sdgTargets": ["8.3"],
        "startDate": {"year": 2021, "month": 3},
        "location": {"latitude": 45.76, "longitude": 4.84},
        "sources": [{"title": "End-to-end gateway suite", "date": {"year": 2024}}],
    }
    body.update(fields)
    return body


def observation_json(**fields) -> dict:
    body = {
        "refArea": "FR",
        "timePeriod": "2022",
        "value": 12.5,
        "status": "STATUS_REPORTED",
        "source": {"title": "End-to-end gateway suite", "publisher": "e2e"},
    }
    body.update(fields)
    return body


def legal_text_json(**fields) -> dict:
    body = {
        "jurisdiction": "CA-QC",
        "level": "LEVEL_REGIONAL",
        "kind": "KIND_REGULATION",
        "number": "RLRQ c. E-1.1.1, r. 9",
        "title": "Règlement d'essai de la passerelle REST",
        "titleEn": "Test regulation of the REST gateway",
        "language": "fr",
        "status": "STATUS_DRAFT",
        "topics": ["TOPIC_ENTITY_TYPES"],
        "summary": "A regulation written by the end-to-end suite through the gateway.",
        "provisions": [
            {
                "number": "art. 1",
                "heading": "Objet",
                "text": "Les coopératives tiennent un registre de leurs membres.",
                "topics": ["TOPIC_REGISTRY"],
            }
        ],
        "relations": [{"type": "TYPE_IMPLEMENTS", "legalText": "legalTexts/ca-qc-loi-economie-sociale-2013"}],
    }
    body.update(fields)
    return body


# --- the OpenAPI document --------------------------------------------------------------------




def test_the_openapi_document_is_valid_openapi_3_1(openapi):
    assert openapi["openapi"].startswith("3.1."), openapi["openapi"]
    errors = [
        f"{error.message} (at {list(error.absolute_path)})" for error in OpenAPIV31SpecValidator(openapi).iter_errors()
    ]
    assert not errors, "openapi-spec-validator refuses /openapi.json:\n" + "\n".join(errors)


def test_operation_ids_are_unique(openapi):
    # Already part of the validation above; kept apart so that the failure names the duplicates.
    ids = [operation.get("operationId") for operation in openapi_operations(openapi).values()]
    duplicates = sorted({id_ for id_ in ids if ids.count(id_) > 1})
    assert not duplicates, f"operationIds used twice: {duplicates}"


def test_every_rpc_is_annotated_and_the_document_has_exactly_their_routes(stubs, openapi):
    bindings = annotated_bindings(stubs)
    methods = {b.method.full_name for b in bindings}
    for service_name, module_name in SERVICES.items():
        service = importlib.import_module(module_name).DESCRIPTOR.services_by_name[service_name.rsplit(".", 1)[1]]
        assert {m.full_name for m in service.methods} <= methods
    expected = sorted((b.verb, b.shape) for b in bindings)
    documented = sorted((method, openapi_shape(path)) for method, path in openapi_operations(openapi))
    assert documented == expected


def test_the_document_describes_every_parameter_body_and_response(stubs, openapi):
    by_shape = {(method, openapi_shape(path)): (path, op) for (method, path), op in openapi_operations(openapi).items()}
    seen: set = set()
    for binding in annotated_bindings(stubs):
        path, operation = by_shape[(binding.verb, binding.shape)]
        where = f"{binding.verb} {path} ({binding.method.full_name})"
        parameters = operation.get("parameters", [])
        path_parameters = [p for p in parameters if p["in"] == "path"]
        wildcards = re.findall(r"\{([^}]+)\}", path)
        assert [p["name"] for p in path_parameters] == wildcards, where
        assert all(p["required"] is True and p["schema"]["type"] == "string" for p in path_parameters), where
        query = {p["name"]: p for p in parameters if p["in"] == "query"}
        assert set(query) == expected_query_parameters(binding), where
        request = binding.method.input_type
        for name, parameter in query.items():
            check_field_schema(openapi, parameter["schema"], request.fields_by_camelcase_name[name], seen, where)
        assert {p["in"] for p in parameters} <= {"path", "query"}, where

        if binding.body == "*":
            # The whole request, but for the fields the path sets (as grpc-gateway's generator
            # writes it).
            schema = resolve(openapi, operation["requestBody"]["content"]["application/json"]["schema"])
            bound = {variable.split(".")[0] for variable, _ in binding.variables}
            fields = [f for f in request.fields if f.name not in bound]
            assert set(schema["properties"]) == {f.json_name for f in fields}, where
            for f in fields:
                check_field_schema(openapi, schema["properties"][f.json_name], f, seen, where)
        elif binding.body:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            message = request.fields_by_name[binding.body].message_type
            check_message_schema(openapi, schema, message, seen)
        else:
            assert "requestBody" not in operation, where

        output = binding.method.output_type
        if output.full_name == "google.api.HttpBody":
            media_types = set(operation["responses"]["200"]["content"])
            assert media_types and "application/json" not in media_types, where
            continue
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        if binding.method.server_streaming:
            ok = resolve(openapi, ok)["properties"]["result"]
        if binding.response_body:
            check_message_schema(openapi, ok, output.fields_by_name[binding.response_body].message_type, seen)
        else:
            check_message_schema(openapi, ok, output, seen)
        error = resolve(openapi, operation["responses"]["default"]["content"]["application/json"]["schema"])
        assert set(error["properties"]) == {"code", "message", "details"}, where


# --- REST: initiatives -----------------------------------------------------------------------


def test_initiatives_over_rest_create_get_update_delete_undelete_batch(stubs, gw, grpc_clients):
    m = stubs["initiatives"]
    created = gw.post(
        "/v1/initiatives", params={"initiativeId": "rest-coop", "requestId": "rest-1"}, json=initiative_json()
    )
    assert created.status_code == 200, created.text
    body = created.json()
    check_json(body, m.Initiative.DESCRIPTOR)
    assert body["name"] == "initiatives/rest-coop"
    assert body["legalForm"] == "LEGAL_FORM_COOPERATIVE" and body["sdgGoals"] == [8]
    assert TIMESTAMP.match(body["createTime"]) and body["createTime"].endswith("Z")
    assert etag_header(created) == f'"{body["etag"]}"'
    retried = gw.post(
        "/v1/initiatives", params={"initiativeId": "rest-coop", "requestId": "rest-1"}, json=initiative_json()
    )
    assert retried.status_code == 200 and retried.json() == body, "a repeated requestId returns the first result"

    fetched = gw.get("/v1/initiatives/rest-coop")
    assert fetched.status_code == 200
    assert fetched.json() == body
    same_as_grpc(
        fetched.json(), grpc_clients["initiatives"].GetInitiative(m.GetInitiativeRequest(name=body["name"])).initiative
    )

    updated = gw.patch(
        "/v1/initiatives/rest-coop",
        params={"updateMask": "displayName,startDate"},
        json={"displayName": "Coopérative renommée", "description": "not in the mask", "startDate": {"year": 2020}},
        headers={"If-Match": etag_header(fetched)},
    )
    assert updated.status_code == 200, updated.text
    changed = updated.json()
    assert changed["displayName"] == "Coopérative renommée"
    assert changed["startDate"] == {"year": 2020}
    assert changed["description"] == body["description"], "a field outside updateMask is not written"
    assert changed["etag"] != body["etag"] and etag_header(updated) == f'"{changed["etag"]}"'

    stale = gw.patch(
        "/v1/initiatives/rest-coop",
        params={"updateMask": "displayName"},
        json={"displayName": "Written with a stale etag"},
        headers={"If-Match": etag_header(fetched)},
    )
    assert (
        detail(status_of(stale, 10), "ErrorInfo")["reason"],
        detail(status_of(stale, 10), "ErrorInfo")["domain"],
    ) == (
        "ETAG_MISMATCH",
        DOMAIN,
    )
    stale_delete = gw.delete("/v1/initiatives/rest-coop", headers={"If-Match": etag_header(fetched)})
    assert detail(status_of(stale_delete, 10), "ErrorInfo")["reason"] == "ETAG_MISMATCH"
    assert gw.get("/v1/initiatives/rest-coop").json() == changed, "nothing written by the stale requests"

    deleted = gw.delete("/v1/initiatives/rest-coop", headers={"If-Match": etag_header(updated)})
    assert deleted.status_code == 200, deleted.text
    assert TIMESTAMP.match(deleted.json()["deleteTime"])
    listed = gw.get("/v1/initiatives", params={"pageSize": 1000}).json()
    assert "initiatives/rest-coop" not in [i["name"] for i in listed["initiatives"]]
    with_deleted = gw.get("/v1/initiatives", params={"pageSize": 1000, "showDeleted": "true"}).json()
    assert "initiatives/rest-coop" in [i["name"] for i in with_deleted["initiatives"]]

    restored = gw.post("/v1/initiatives/rest-coop:undelete", json={})
    assert restored.status_code == 200, restored.text
    assert "deleteTime" not in restored.json()
    assert etag_header(restored) == f'"{restored.json()["etag"]}"'

    batch = gw.post(
        "/v1/initiatives:batchCreate",
        json={
            "requestId": "rest-batch-1",
            "requests": [
                {"initiativeId": "rest-batch-1", "initiative": initiative_json(displayName="Batch 1")},
                {"initiativeId": "rest-batch-2", "initiative": initiative_json(displayName="Batch 2")},
            ],
        },
    )
    assert batch.status_code == 200, batch.text
    check_json(batch.json(), m.BatchCreateInitiativesResponse.DESCRIPTOR)
    assert [i["name"] for i in batch.json()["initiatives"]] == ["initiatives/rest-batch-1", "initiatives/rest-batch-2"]
    assert gw.get("/v1/initiatives").json()["totalSize"] == len(SEEDED_INITIATIVES) + 3


def test_list_answers_equal_grpc_and_filter_order_by_and_show_deleted_map_to_fields(stubs, gw, grpc_clients):
    m = stubs["initiatives"]
    client = grpc_clients["initiatives"]
    for params, request in [
        ({}, m.ListInitiativesRequest()),
        ({"filter": 'countries:"FR"'}, m.ListInitiativesRequest(filter='countries:"FR"')),
        (
            {"filter": "sdg_goals:8 AND legal_form = COOPERATIVE", "orderBy": "display_name desc"},
            m.ListInitiativesRequest(filter="sdg_goals:8 AND legal_form = COOPERATIVE", order_by="display_name desc"),
        ),
    ]:
        response = gw.get("/v1/initiatives", params=params)
        assert response.status_code == 200, response.text
        same_as_grpc(response.json(), client.ListInitiatives(request))
    names = [
        i["name"] for i in gw.get("/v1/initiatives", params={"filter": 'display_name:"green"'}).json()["initiatives"]
    ]
    assert names == ["initiatives/great-green-wall"]
    ordered = gw.get("/v1/initiatives", params={"orderBy": "display_name desc"}).json()["initiatives"]
    assert [i["displayName"] for i in ordered] == sorted((i["displayName"] for i in ordered), reverse=True)


def test_page_size_and_page_token_walk_every_initiative_once(gw):
    seen, token, pages = [], None, 0
    while True:
        params = {"pageSize": 1, **({"pageToken": token} if token else {})}
        page = gw.get("/v1/initiatives", params=params).json()
        pages += 1
        assert len(page["initiatives"]) == 1 and page["totalSize"] == len(SEEDED_INITIATIVES)
        seen += [i["name"].removeprefix("initiatives/") for i in page["initiatives"]]
        token = page.get("nextPageToken")
        if not token:
            break
        assert pages < 10, seen
    assert sorted(seen) == sorted(SEEDED_INITIATIVES) and pages == len(SEEDED_INITIATIVES)
    # The proto field name is accepted as well as the JSON name, as grpc-gateway does.
    assert len(gw.get("/v1/initiatives", params={"page_size": 2}).json()["initiatives"]) == 2


def test_legal_texts_pages_walk_once_with_a_filter(gw):
    everything = gw.get("/v1/legalTexts", params={"pageSize": 1000}).json()
    assert everything["totalSize"] == SEEDED_LEGAL_TEXTS == len(everything["legalTexts"])
    seen, token = [], None
    while True:
        params = {"pageSize": 7, "orderBy": "jurisdiction, name", **({"pageToken": token} if token else {})}
        page = gw.get("/v1/legalTexts", params=params).json()
        seen += [text["name"] for text in page["legalTexts"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == SEEDED_LEGAL_TEXTS
    french = gw.get("/v1/legalTexts", params={"filter": 'jurisdiction = "FR"'}).json()
    assert french["totalSize"] >= 2 and all(text["jurisdiction"] == "FR" for text in french["legalTexts"])
    # A token only works with the query it was issued for.
    first = gw.get("/v1/legalTexts", params={"pageSize": 2}).json()
    wrong = gw.get(
        "/v1/legalTexts", params={"pageSize": 2, "pageToken": first["nextPageToken"], "filter": 'jurisdiction = "FR"'}
    )
    assert status_of(wrong, 3)


def test_bodies_are_read_as_the_proto3_json_mapping(gw):
    # Parsers of the mapping accept proto field names as well as JSON names, null for a default
    # value, enum numbers, and numbers written as strings.
    body = {
        "display_name": "Written with proto names",
        "description": None,
        "legalForm": 2,
        "countries": ["FR"],
        "sdg_goals": ["8", 9],
        "location": {"latitude": "45.5", "longitude": 4},
    }
    created = gw.post("/v1/initiatives", params={"initiativeId": "json-mapping"}, json=body)
    assert created.status_code == 200, created.text
    stored = created.json()
    assert stored["displayName"] == "Written with proto names" and "description" not in stored
    assert stored["legalForm"] == "LEGAL_FORM_MUTUAL"
    assert stored["sdgGoals"] == [8, 9]
    assert stored["location"] == {"latitude": 45.5, "longitude": 4}


def test_query_parameters_set_no_field_that_the_path_or_the_body_sets(gw):
    # As grpc-gateway filters them: the path and the body win over the query string.
    got = gw.get("/v1/initiatives/tzcld", params={"name": "initiatives/mondragon"})
    assert got.status_code == 200 and got.json()["name"] == "initiatives/tzcld"
    created = gw.post(
        "/v1/initiatives",
        params={"initiativeId": "query-vs-body", "initiative.displayName": "From the query"},
        json=initiative_json(displayName="From the body"),
    )
    assert created.status_code == 200, created.text
    assert created.json()["displayName"] == "From the body"
    updated = gw.patch(
        "/v1/initiatives/query-vs-body",
        params={"updateMask": "description", "initiative.description": "From the query"},
        json={"description": "From the body"},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "From the body"


# --- REST: conditional requests --------------------------------------------------------------


def test_if_none_match_with_the_etag_is_304_with_the_etag(gw):
    for path in ("/v1/initiatives/tzcld", "/v1/indicators/land-restored", "/v1/legalTexts/fr-loi-2014-856"):
        first = gw.get(path)
        assert first.status_code == 200
        etag = etag_header(first)
        assert re.fullmatch(r'(W/)?"[^"]+"', etag), etag
        assert etag.strip('"').removeprefix('W/"') == first.json()["etag"]
        again = gw.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, f"{path}: {again.status_code}"
        assert again.headers.get("ETag") == etag
        assert again.content == b""
        weak = gw.get(path, headers={"If-None-Match": f"W/{etag}"})
        assert weak.status_code == 304, "If-None-Match uses the weak comparison"
        other = gw.get(path, headers={"If-None-Match": '"not-the-etag"'})
        assert other.status_code == 200 and other.json() == first.json()


def test_if_none_match_with_a_list_holding_the_etag_is_304(gw):
    etag = etag_header(gw.get("/v1/initiatives/tzcld"))
    listed = gw.get("/v1/initiatives/tzcld", headers={"If-None-Match": f'"older", {etag}'})
    assert listed.status_code == 304, f"If-None-Match with a list holding the current etag: {listed.status_code}"


def test_if_none_match_star_on_an_existing_resource_is_304(gw):
    star = gw.get("/v1/initiatives/tzcld", headers={"If-None-Match": "*"})
    assert star.status_code == 304, f"If-None-Match: * on an existing resource: {star.status_code}"


def test_if_match_star_matches_any_current_representation(gw):
    updated = gw.patch(
        "/v1/initiatives/la-guilde",
        params={"updateMask": "description"},
        json={"description": "Updated with If-Match: *"},
        headers={"If-Match": "*"},
    )
    assert updated.status_code == 200, f"If-Match: * on an existing resource: {updated.status_code} {updated.text}"


# --- REST: indicators ------------------------------------------------------------------------


def test_indicators_and_observations_over_rest(stubs, gw, grpc_clients):
    m = stubs["indicators"]
    client = grpc_clients["indicators"]
    created = gw.post(
        "/v1/indicators",
        params={"indicatorId": "rest-jobs", "requestId": "rest-ind-1"},
        json={
            "displayName": "Jobs counted through REST",
            "unit": "{jobs}",
            "unitLabel": "jobs",
            "category": "CATEGORY_EMPLOYMENT",
            "aggregation": "AGGREGATION_SUM",
            "sdgIndicators": ["8.5.2"],
        },
    )
    assert created.status_code == 200, created.text
    indicator = created.json()
    check_json(indicator, m.Indicator.DESCRIPTOR)
    assert indicator["name"] == "indicators/rest-jobs" and indicator["category"] == "CATEGORY_EMPLOYMENT"
    fetched = gw.get("/v1/indicators/rest-jobs")
    same_as_grpc(fetched.json(), client.GetIndicator(m.GetIndicatorRequest(name="indicators/rest-jobs")).indicator)
    updated = gw.patch(
        "/v1/indicators/rest-jobs",
        params={"updateMask": "displayName"},
        json={"displayName": "Jobs (REST)"},
        headers={"If-Match": etag_header(fetched)},
    )
    assert updated.status_code == 200 and updated.json()["displayName"] == "Jobs (REST)", updated.text

    listed = gw.get("/v1/indicators", params={"filter": "category = EMPLOYMENT", "pageSize": 100})
    same_as_grpc(
        listed.json(), client.ListIndicators(m.ListIndicatorsRequest(filter="category = EMPLOYMENT", page_size=100))
    )
    assert "indicators/rest-jobs" in [i["name"] for i in listed.json()["indicators"]]

    observation = gw.post(
        "/v1/indicators/rest-jobs/observations",
        params={"observationId": "fr-2022"},
        json=observation_json(initiative="initiatives/tzcld"),
    )
    assert observation.status_code == 200, observation.text
    check_json(observation.json(), m.Observation.DESCRIPTOR)
    name = "indicators/rest-jobs/observations/fr-2022"
    assert observation.json()["name"] == name and observation.json()["status"] == "STATUS_REPORTED"
    got = gw.get(f"/v1/{name}")
    same_as_grpc(got.json(), client.GetObservation(m.GetObservationRequest(name=name)).observation)
    revised = gw.patch(
        f"/v1/{name}",
        params={"updateMask": "value,note"},
        json={"value": 13, "note": "revised", "refArea": "DE"},
        headers={"If-Match": etag_header(got)},
    )
    assert revised.status_code == 200, revised.text
    assert (revised.json()["value"], revised.json()["note"], revised.json()["refArea"]) == (13, "revised", "FR")

    batch = gw.post(
        "/v1/indicators/rest-jobs/observations:batchCreate",
        json={
            "requests": [
                {"observationId": "fr-2023", "observation": observation_json(timePeriod="2023", value=20)},
                {
                    "observationId": "target-2030",
                    "observation": observation_json(timePeriod="2030", value=100, status="STATUS_TARGET"),
                },
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert [o["name"].rsplit("/", 1)[1] for o in batch.json()["observations"]] == ["fr-2023", "target-2030"]

    page = gw.get(
        "/v1/indicators/rest-jobs/observations", params={"orderBy": "time_period", "filter": "status = REPORTED"}
    )
    same_as_grpc(
        page.json(),
        client.ListObservations(
            m.ListObservationsRequest(parent="indicators/rest-jobs", order_by="time_period", filter="status = REPORTED")
        ),
    )
    assert [o["timePeriod"] for o in page.json()["observations"]] == ["2022", "2023"]

    gone = gw.delete(f"/v1/{name}", headers={"If-Match": etag_header(revised)})
    assert gone.status_code == 200 and TIMESTAMP.match(gone.json()["deleteTime"]), gone.text
    assert gw.get("/v1/indicators/rest-jobs/observations").json()["totalSize"] == 2

    deleted = gw.delete("/v1/indicators/rest-jobs")
    assert deleted.status_code == 200 and "deleteTime" in deleted.json(), deleted.text
    restored = gw.post("/v1/indicators/rest-jobs:undelete", json={})
    assert restored.status_code == 200 and "deleteTime" not in restored.json(), restored.text


def test_repeated_group_by_maps_to_the_repeated_field(stubs, gw, grpc_clients):
    m = stubs["indicators"]
    response = gw.get("/v1/indicators/land-restored:aggregate", params={"groupBy": ["ref_area", "year"]})
    assert response.status_code == 200, response.text
    body = response.json()
    same_as_grpc(
        body,
        grpc_clients["indicators"].AggregateObservations(
            m.AggregateObservationsRequest(indicator="indicators/land-restored", group_by=["ref_area", "year"])
        ),
    )
    assert body["aggregation"] == "AGGREGATION_SUM"
    assert all([g["field"] for g in row["group"]] == ["ref_area", "year", "status"] for row in body["rows"])
    filtered = gw.get(
        "/v1/indicators/land-restored:aggregate", params={"groupBy": "initiative", "filter": "status = TARGET"}
    ).json()
    assert [(row["group"][0].get("value"), row["value"]) for row in filtered["rows"]] == [
        ("initiatives/great-green-wall", 100_000_000)
    ]


def test_progress_and_the_sdg_lists_over_rest(stubs, gw, grpc_clients):
    m = stubs["indicators"]
    client = grpc_clients["indicators"]
    progress = gw.get("/v1/initiatives/great-green-wall:progress")
    assert progress.status_code == 200, progress.text
    same_as_grpc(progress.json(), client.GetProgress(m.GetProgressRequest(initiative="initiatives/great-green-wall")))
    land = next(p for p in progress.json()["progress"] if p["indicator"] == "indicators/land-restored")
    assert land["ratio"] == pytest.approx(0.2)

    goals = gw.get("/v1/sdgGoals", params={"language": "fr"})
    same_as_grpc(goals.json(), client.ListSdgGoals(m.ListSdgGoalsRequest(language="fr")))
    assert len(goals.json()["goals"]) == 17
    targets = gw.get("/v1/sdgTargets", params={"goal": "8"})
    same_as_grpc(targets.json(), client.ListSdgTargets(m.ListSdgTargetsRequest(goal="8")))
    assert {t["goal"] for t in targets.json()["targets"]} == {"8"}
    sdg_indicators = gw.get("/v1/sdgIndicators", params={"parent": "8.5", "language": "es"})
    same_as_grpc(
        sdg_indicators.json(), client.ListSdgIndicators(m.ListSdgIndicatorsRequest(parent="8.5", language="es"))
    )
    assert [i["code"] for i in sdg_indicators.json()["indicators"]] == ["8.5.1", "8.5.2"]


def test_the_export_and_the_structure_are_raw_documents_with_their_media_types(stubs, gw, grpc_clients):
    """Both RPCs answer google.api.HttpBody: REST returns the document itself, with the media type
    the service gives, as grpc-gateway does, not JSON around base64."""
    m = stubs["indicators"]
    client = grpc_clients["indicators"]
    only_land = 'indicator = "indicators/land-restored"'
    response = gw.get("/v1/observations:export", params={"filter": only_land, "format": "EXPORT_FORMAT_SDMX_CSV"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CSV_MEDIA_TYPE
    chunks = list(
        client.ExportObservations(m.ExportObservationsRequest(filter=only_land, format=m.EXPORT_FORMAT_SDMX_CSV))
    )
    assert chunks[0].content_type == CSV_MEDIA_TYPE
    assert response.content == b"".join(chunk.data for chunk in chunks)
    as_json = gw.get("/v1/observations:export", params={"filter": only_land, "format": "EXPORT_FORMAT_SDMX_JSON"})
    assert as_json.headers["content-type"] == JSON_MEDIA_TYPE
    assert as_json.json()["data"]["dataSets"], as_json.text[:200]

    structure = gw.get("/v1/dataStructure")
    assert structure.status_code == 200, structure.text
    assert structure.headers["content-type"] == STRUCTURE_MEDIA_TYPE
    # The message is the service's, but for its Prepared time, which changes between calls.
    by_grpc = client.GetDataStructure(m.GetDataStructureRequest())

    def unprepared(xml: bytes) -> bytes:
        return re.sub(rb"<(\w+:)?Prepared>[^<]*</(\w+:)?Prepared>", b"", xml)

    assert unprepared(structure.content) == unprepared(by_grpc.data)
    _, dataflow = read_structure(structure.content)
    rows = sdmx_rows(read_csv(response.content, dataflow))
    assert {key[0] for key in rows} == {"land-restored"} and len(rows) == 3


def test_an_export_that_fails_before_its_first_message_is_an_http_error(gw):
    response = gw.get("/v1/observations:export", params={"filter": "indicator ="})
    body = status_of(response, 3)
    assert detail(body, "ErrorInfo")["reason"] == "INVALID_FILTER"
    assert [v["field"] for v in detail(body, "BadRequest")["fieldViolations"]] == ["filter"]


# --- REST: law guide -------------------------------------------------------------------------


def test_legal_texts_over_rest_create_update_revisions_delete(stubs, gw, grpc_clients):
    m = stubs["law_guide"]
    client = grpc_clients["law_guide"]
    created = gw.post("/v1/legalTexts", params={"legalTextId": "ca-qc-reglement-rest"}, json=legal_text_json())
    assert created.status_code == 200, created.text
    text = created.json()
    check_json(text, m.LegalText.DESCRIPTOR)
    assert text["name"] == "legalTexts/ca-qc-reglement-rest" and text["topics"] == ["TOPIC_ENTITY_TYPES"]
    fetched = gw.get("/v1/legalTexts/ca-qc-reglement-rest")
    same_as_grpc(fetched.json(), client.GetLegalText(m.GetLegalTextRequest(name=text["name"])).legal_text)

    updated = gw.patch(
        "/v1/legalTexts/ca-qc-reglement-rest",
        params={"updateMask": "status,titleEn"},
        json={"status": "STATUS_IN_FORCE", "titleEn": "Test regulation, in force"},
        headers={"If-Match": etag_header(fetched)},
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["status"], updated.json()["titleEn"]) == ("STATUS_IN_FORCE", "Test regulation, in force")
    stale = gw.patch(
        "/v1/legalTexts/ca-qc-reglement-rest",
        params={"updateMask": "status"},
        json={"status": "STATUS_REPEALED"},
        headers={"If-Match": etag_header(fetched)},
    )
    assert detail(status_of(stale, 10), "ErrorInfo")["reason"] == "ETAG_MISMATCH"

    revisions = gw.get("/v1/legalTexts/ca-qc-reglement-rest/revisions")
    assert revisions.status_code == 200, revisions.text
    same_as_grpc(revisions.json(), client.ListLegalTextRevisions(m.ListLegalTextRevisionsRequest(parent=text["name"])))
    assert [r["change"] for r in revisions.json()["revisions"]] == ["CHANGE_UPDATE"]
    assert TIMESTAMP.match(revisions.json()["revisions"][0]["revisionCreateTime"])

    stale_delete = gw.delete("/v1/legalTexts/ca-qc-reglement-rest", headers={"If-Match": etag_header(fetched)})
    status_of(stale_delete, 10)
    deleted = gw.delete("/v1/legalTexts/ca-qc-reglement-rest", headers={"If-Match": etag_header(updated)})
    assert deleted.status_code == 200, deleted.text
    check_json(deleted.json(), m.DeleteLegalTextResponse.DESCRIPTOR)
    assert deleted.json()["revision"]["change"] == "CHANGE_DELETE"
    assert deleted.json()["revision"]["legalText"]["etag"] == updated.json()["etag"]
    status_of(gw.get("/v1/legalTexts/ca-qc-reglement-rest"), 5)


def test_search_by_get_and_by_post_give_the_grpc_answer(stubs, gw, grpc_clients):
    m = stubs["law_guide"]
    expected = grpc_clients["law_guide"].SearchLegalTexts(
        m.SearchLegalTextsRequest(query="cofradía de pescador", language="es", page_size=3)
    )
    by_get = gw.get("/v1/legalTexts:search", params={"query": "cofradía de pescador", "language": "es", "pageSize": 3})
    assert by_get.status_code == 200, by_get.text
    same_as_grpc(by_get.json(), expected)
    by_post = gw.post("/v1/legalTexts:search", json={"query": "cofradía de pescador", "language": "es", "pageSize": 3})
    assert by_post.status_code == 200, by_post.text
    same_as_grpc(by_post.json(), expected)
    first = by_post.json()["results"][0]
    assert first["legalText"]["name"] == "legalTexts/es-ley-5-2011"
    assert first["snippets"][0]["section"] == "SECTION_PROVISION"
    assert "<em>cofradías</em>" in first["snippets"][0]["text"]


def test_compare_jurisdictions_takes_repeated_enum_and_string_parameters(stubs, gw, grpc_clients):
    m = stubs["law_guide"]
    response = gw.get(
        "/v1/legalTexts:compareJurisdictions",
        params={"topics": ["TOPIC_PUBLIC_PROCUREMENT", "TOPIC_TAX_INCENTIVES"], "jurisdictions": ["FR", "IT", "DE"]},
    )
    assert response.status_code == 200, response.text
    same_as_grpc(
        response.json(),
        grpc_clients["law_guide"].CompareJurisdictions(
            m.CompareJurisdictionsRequest(
                topics=[m.TOPIC_PUBLIC_PROCUREMENT, m.TOPIC_TAX_INCENTIVES], jurisdictions=["FR", "IT", "DE"]
            )
        ),
    )
    body = response.json()
    assert body["topics"] == ["TOPIC_PUBLIC_PROCUREMENT", "TOPIC_TAX_INCENTIVES"]
    assert [row["jurisdiction"] for row in body["rows"]] == ["FR", "IT", "DE"]
    assert body["rows"][0]["cells"][0]["legalTexts"][0]["legalText"] == "legalTexts/fr-loi-2014-856"


def test_enum_query_parameters_also_take_the_number(gw):
    # The proto3 JSON mapping reads an enum by name or by number, and so do grpc-gateway's and
    # Envoy's query parameters.
    by_name = gw.get("/v1/legalTexts:compareJurisdictions", params={"topics": "TOPIC_REGISTRY", "jurisdictions": "FR"})
    by_number = gw.get("/v1/legalTexts:compareJurisdictions", params={"topics": "4", "jurisdictions": "FR"})
    assert by_name.status_code == 200, by_name.text
    assert by_number.status_code == 200, by_number.text
    assert by_number.json() == by_name.json()


# --- REST: errors ----------------------------------------------------------------------------


def test_bad_input_is_400_with_bad_request_field_violations(gw):
    response = gw.post(
        "/v1/initiatives", params={"initiativeId": "bad-country"}, json=initiative_json(countries=["FR", "XX"])
    )
    body = status_of(response, 3)
    info = detail(body, "ErrorInfo")
    assert (info["reason"], info["domain"]) == ("INVALID_ARGUMENT", DOMAIN)
    violations = detail(body, "BadRequest")["fieldViolations"]
    assert "initiative.countries[1]" in [v["field"] for v in violations]
    assert all(set(v) >= {"field", "description"} for v in violations)
    assert gw.get("/v1/initiatives").json()["totalSize"] == len(SEEDED_INITIATIVES), "nothing written"

    batch = gw.post(
        "/v1/initiatives:batchCreate",
        json={"requests": [{"initiative": initiative_json()}, {"initiative": initiative_json(displayName="")}]},
    )
    fields = [v["field"] for v in detail(status_of(batch, 3), "BadRequest")["fieldViolations"]]
    assert fields == ["requests[1].initiative.display_name"]

    bad_filter = gw.get("/v1/initiatives", params={"filter": 'countries:"FR" AND'})
    body = status_of(bad_filter, 3)
    assert detail(body, "ErrorInfo")["reason"] == "INVALID_FILTER" and "position" in body["message"]


def test_requests_the_gateway_cannot_read_are_400(gw):
    not_json = gw.post("/v1/initiatives", data="not json", headers={"Content-Type": "application/json"})
    status_of(not_json, 3)
    not_a_number = gw.get("/v1/initiatives", params={"pageSize": "many"})
    status_of(not_a_number, 3)
    not_a_bool = gw.get("/v1/initiatives", params={"showDeleted": "perhaps"})
    status_of(not_a_bool, 3)
    not_an_enum = gw.get("/v1/legalTexts:compareJurisdictions", params={"topics": "TOPIC_BAKERY"})
    status_of(not_an_enum, 3)


def test_batch_get_initiatives_keeps_the_order_asked_and_404s_on_a_missing_name(gw):
    names = ["initiatives/tzcld", "initiatives/mondragon", "initiatives/tzcld"]
    found = gw.get("/v1/initiatives:batchGet", params={"names": names})
    assert found.status_code == 200, found.text
    assert [item["name"] for item in found.json()["initiatives"]] == names
    missing = status_of(gw.get("/v1/initiatives:batchGet", params={"names": ["initiatives/tzcld", "initiatives/nope"]}), 5)
    assert "initiatives/nope" in missing["message"]


def test_batch_get_initiatives_returns_the_fields_of_its_read_mask(gw, openapi):
    names = ["initiatives/tzcld", "initiatives/mondragon"]
    full = gw.get("/v1/initiatives:batchGet", params={"names": names}).json()["initiatives"]
    masked = gw.get("/v1/initiatives:batchGet", params={"names": names, "readMask": "legalForm,displayName"})
    assert masked.status_code == 200, masked.text
    assert masked.json()["initiatives"] == [
        {key: item[key] for key in ("name", "legalForm", "displayName") if key in item} for item in full
    ]
    unknown = status_of(gw.get("/v1/initiatives:batchGet", params={"names": names, "readMask": "colour"}), 3)
    assert "colour" in unknown["message"] or "colour" in str(unknown["details"])
    # The document says which paths a mask may hold, so that a client (or schemathesis) sends
    # only those.
    (parameter,) = [
        parameter
        for parameter in openapi["paths"]["/v1/initiatives:batchGet"]["get"]["parameters"]
        if parameter["name"] == "readMask"
    ]
    pattern = re.compile(parameter["schema"]["pattern"])
    assert pattern.fullmatch("legalForm,deleteTime") and pattern.fullmatch("*")
    assert not pattern.fullmatch("colour")


def test_batch_get_legal_texts_keeps_the_order_asked(gw):
    names = ["legalTexts/fr-loi-2014-856", "legalTexts/es-ley-5-2011"]
    found = gw.get("/v1/legalTexts:batchGet", params={"names": names})
    assert found.status_code == 200, found.text
    assert [item["name"] for item in found.json()["legalTexts"]] == names
    status_of(gw.get("/v1/legalTexts:batchGet", params={"names": ["legalTexts/no-such-law"]}), 5)


@pytest.mark.server_env(OBSERVATORY_REST_MAX_BODY_BYTES="2000")
def test_a_body_over_the_configured_limit_is_413_and_one_under_it_is_read(gw):
    small = initiative_json(displayName="Small enough")
    created = gw.post("/v1/initiatives", params={"initiativeId": "small-enough"}, json=small)
    assert created.status_code == 200, created.text
    large = initiative_json(displayName="Too large", description="x" * 3000)
    refused = gw.post("/v1/initiatives", params={"initiativeId": "too-large"}, json=large)
    assert refused.status_code == 413, refused.text
    assert detail(refused.json(), "ErrorInfo")["reason"] == "BODY_TOO_LARGE"
    assert gw.get("/v1/initiatives/too-large").status_code == 404


def test_the_default_body_limit_is_8_mib(gw):
    refused = gw.post(
        "/v1/initiatives:batchCreate",
        data=b'{"requests": [' + b" " * (8 * 1024 * 1024) + b"]}",
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 413, refused.text[:200]


def test_error_statuses_follow_grpc_gateway(gw):
    missing = status_of(gw.get("/v1/initiatives/no-such-one"), 5)
    assert (detail(missing, "ErrorInfo")["reason"], detail(missing, "ErrorInfo")["domain"]) == ("NOT_FOUND", DOMAIN)
    status_of(gw.get("/v1/indicators/land-restored/observations/no-such-one"), 5)
    status_of(gw.get("/v1/legalTexts/no-such-one"), 5)

    twice = gw.post("/v1/initiatives", params={"initiativeId": "tzcld"}, json=initiative_json())
    assert detail(status_of(twice, 6), "ErrorInfo")["reason"] == "ALREADY_EXISTS"

    unknown_initiative = gw.post(
        "/v1/indicators/workers/observations", json=observation_json(initiative="initiatives/nobody")
    )
    status_of(unknown_initiative, 9)
    not_deleted = gw.post("/v1/initiatives/tzcld:undelete", json={})
    assert detail(status_of(not_deleted, 9), "ErrorInfo")["reason"] == "NOT_DELETED"


def test_unknown_routes_are_404_and_other_methods_405(gw):
    for path in ("/v1/nothing", "/v1/initiatives/tzcld/extra", "/v1/initiatives/tzcld:explode", "/v2/initiatives"):
        response = gw.get(path)
        assert response.status_code == 404, f"GET {path}: {response.status_code}"
        if path.startswith("/v1/"):
            assert status_of(response, 5)
    for method, path in [
        ("PUT", "/v1/initiatives/tzcld"),
        ("POST", "/v1/initiatives/tzcld"),
        ("GET", "/v1/initiatives:batchCreate"),
        ("DELETE", "/v1/initiatives"),
    ]:
        response = gw.call(method, path)
        assert response.status_code == 405, f"{method} {path}: {response.status_code}"
        assert response.json()["code"] == 12, response.text  # UNIMPLEMENTED, as grpc-gateway says it


def test_a_405_names_the_allowed_methods(gw):
    # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
    response = gw.call("PUT", "/v1/initiatives/tzcld")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
    assert {"GET", "PATCH", "DELETE"} <= allowed and not {
        "PUT",
        "POST",
    } & allowed, f"Allow: {response.headers.get('Allow')!r}"


def read_http_response(sock: socket.socket) -> tuple[int, dict[str, str]] | None:
    """Reads one HTTP/1.1 response with a Content-Length from `sock`: (status, headers), or None
    if the connection is closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers


@pytest.mark.parametrize(("method", "path"), [("PUT", "/v1/initiatives/tzcld"), ("POST", "/v1/no-such-route")])
def test_an_error_answered_before_the_body_leaves_the_connection_usable(gw, method, path):
    # Clients write the headers and the body separately; a connection that is not announced as
    # closing must take the next request (RFC 9112 §9.3, §9.6).
    host, port = urllib.parse.urlsplit(gw.base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT_S) as sock:
        body = b'{"displayName": "x"}'
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        time.sleep(0.05)
        sock.sendall(body)
        first = read_http_response(sock)
        assert first is not None and first[0] in (404, 405), first
        if first[1].get("connection", "").lower() == "close":
            return
        time.sleep(0.2)
        try:
            sock.sendall(f"GET /v1/initiatives/tzcld HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            second = read_http_response(sock)
        except OSError as error:
            second = error
        assert (
            isinstance(second, tuple) and second[0] == 200
        ), f"the connection was closed after the {first[0]} without `Connection: close`: {second!r}"


@pytest.mark.server_env(OBSERVATORY_INITIATIVES_URL="http://127.0.0.1:1")
def test_an_unreachable_service_is_503(gw):
    body = status_of(gw.get("/v1/initiatives/tzcld"), 14)
    assert body["message"]
    # The other services are still served.
    assert gw.get("/v1/legalTexts/fr-loi-2014-856").status_code == 200


# --- gRPC-Web --------------------------------------------------------------------------------


def grpc_web_frame(message) -> bytes:
    payload = message.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def grpc_web_frames(body: bytes) -> tuple[list[bytes], dict[str, str] | None]:
    """The messages and the trailers (None if there is no trailer frame) of a gRPC-Web body."""
    messages, trailers, offset = [], None, 0
    while offset < len(body):
        assert len(body) - offset >= 5, f"a truncated frame header at {offset}: {body[offset:]!r}"
        flag = body[offset]
        (length,) = struct.unpack(">I", body[offset + 1 : offset + 5])
        payload = body[offset + 5 : offset + 5 + length]
        assert len(payload) == length, f"a truncated frame at {offset}"
        offset += 5 + length
        if flag == 0x00:
            assert trailers is None, "a data frame after the trailers"
            messages.append(payload)
        elif flag == 0x80:
            assert trailers is None, "two trailer frames"
            trailers = {}
            for line in payload.decode("ascii").split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip().lower()] = value.strip()
        else:
            pytest.fail(f"unexpected frame flag {flag:#x}")
    return messages, trailers


def decode_grpc_web_text(body: bytes) -> bytes:
    """grpc-web-text bodies are base64, possibly several padded chunks one after the other."""
    return b"".join(
        base64.b64decode(chunk + b"=" * (-len(chunk) % 4)) for chunk in re.findall(rb"[A-Za-z0-9+/]+=*", body)
    )


@dataclass
class GrpcWebAnswer:
    http: requests.Response
    messages: list[bytes]
    status: int
    message: str
    details: bytes | None


def grpc_web_call(gw, path: str, request, *, text: bool = False, headers=None) -> GrpcWebAnswer:
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    body = grpc_web_frame(request)
    if text:
        body = base64.b64encode(body)
    sent = {
        "Content-Type": content_type,
        "Accept": content_type,
        "X-Grpc-Web": "1",
        "X-User-Agent": "grpc-web-e2e/1.0",
        **(headers or {}),
    }
    try:
        response = gw.session.post(gw.url(path), data=body, headers=sent, timeout=HTTP_TIMEOUT_S)
    except requests.ConnectionError as error:
        pytest.fail(f"gRPC-Web POST {path}: the gateway closed the connection without an answer ({error})")
    assert response.status_code == 200, f"gRPC-Web answers HTTP 200, got {response.status_code}: {response.text}"
    answered = response.headers.get("content-type", "")
    assert answered.startswith(content_type.split("+")[0]), f"answered as {answered!r} to {content_type}"
    raw = decode_grpc_web_text(response.content) if text else response.content
    messages, trailers = grpc_web_frames(raw)
    if trailers is None:
        # A trailers-only answer: the status is in the HTTP headers, and there is no message.
        assert not messages, "messages without a trailer frame"
        trailers = {key.lower(): value for key, value in response.headers.items()}
    assert "grpc-status" in trailers, f"no grpc-status in the trailers or headers: {trailers}"
    details = trailers.get("grpc-status-details-bin")
    padded = details + "=" * (-len(details) % 4) if details else None
    return GrpcWebAnswer(
        http=response,
        messages=messages,
        status=int(trailers["grpc-status"]),
        message=urllib.parse.unquote(trailers.get("grpc-message", "")),
        details=base64.b64decode(padded) if padded else None,
    )


def test_grpc_web_binary_get_initiative_has_a_data_frame_and_ok_trailers(stubs, gw, grpc_clients):
    m = stubs["initiatives"]
    request = m.GetInitiativeRequest(name="initiatives/tzcld")
    answer = grpc_web_call(gw, "/sse.initiatives.v1.InitiativeService/GetInitiative", request)
    assert answer.status == 0, answer.message
    assert len(answer.messages) == 1
    reply = m.GetInitiativeResponse.FromString(answer.messages[0])
    assert reply == grpc_clients["initiatives"].GetInitiative(request)
    assert reply.initiative.display_name == "Territoires zéro chômeur de longue durée"


def test_grpc_web_text_get_initiative(stubs, gw, grpc_clients):
    m = stubs["initiatives"]
    request = m.GetInitiativeRequest(name="initiatives/great-green-wall")
    answer = grpc_web_call(gw, "/sse.initiatives.v1.InitiativeService/GetInitiative", request, text=True)
    assert answer.status == 0, answer.message
    assert answer.http.headers["content-type"].startswith("application/grpc-web-text")
    (message,) = answer.messages
    assert m.GetInitiativeResponse.FromString(message) == grpc_clients["initiatives"].GetInitiative(request)


def test_grpc_web_not_found_is_in_the_trailers_with_its_details(stubs, gw):
    # A trailers-only answer (the status in the HTTP headers, no body) is as valid as a trailer
    # frame (PROTOCOL-WEB.md); grpc_web_call reads whichever the gateway sends.
    m = stubs["initiatives"]
    answer = grpc_web_call(
        gw,
        "/sse.initiatives.v1.InitiativeService/GetInitiative",
        m.GetInitiativeRequest(name="initiatives/no-such-one"),
    )
    assert answer.status == grpc.StatusCode.NOT_FOUND.value[0], (answer.status, answer.message)
    assert answer.messages == []
    assert "initiatives/no-such-one" in answer.message
    assert answer.details is not None, "no grpc-status-details-bin"
    status = status_pb2.Status.FromString(answer.details)
    assert status.code == 5
    infos = []
    for packed in status.details:
        if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            packed.Unpack(info)
            infos.append((info.reason, info.domain))
    assert infos == [("NOT_FOUND", DOMAIN)]


@pytest.mark.parametrize(
    ("module", "path", "request_fields", "response"),
    [
        (
            "indicators",
            "/sse.indicators.v1.IndicatorService/GetIndicator",
            {"name": "indicators/land-restored"},
            "GetIndicatorResponse",
        ),
        ("indicators", "/sse.indicators.v1.IndicatorService/ListSdgGoals", {"language": "es"}, "ListSdgGoalsResponse"),
        (
            "law_guide",
            "/sse.lawguide.v1.LawGuideService/GetLegalText",
            {"name": "legalTexts/fr-loi-2014-856"},
            "GetLegalTextResponse",
        ),
        ("law_guide", "/sse.lawguide.v1.LawGuideService/ListLegalTexts", {"page_size": 3}, "ListLegalTextsResponse"),
    ],
)
def test_grpc_web_serves_every_service_on_the_same_port(
    stubs, gw, grpc_clients, module, path, request_fields, response
):
    m = stubs[module]
    method = path.rsplit("/", 1)[1]
    request = getattr(m, f"{method}Request")(**request_fields)
    answer = grpc_web_call(gw, path, request)
    assert answer.status == 0, answer.message
    (message,) = answer.messages
    assert getattr(m, response).FromString(message) == getattr(grpc_clients[module], method)(request)


@pytest.mark.parametrize(
    "text",
    [pytest.param(False), pytest.param(True)],
    ids=["grpc-web+proto", "grpc-web-text"],
)
def test_grpc_web_streams_the_export_in_data_frames(stubs, gw, grpc_clients, text):
    m = stubs["indicators"]
    request = m.ExportObservationsRequest(format=m.EXPORT_FORMAT_SDMX_CSV)
    answer = grpc_web_call(gw, "/sse.indicators.v1.IndicatorService/ExportObservations", request, text=text)
    assert answer.status == 0, answer.message
    http_body = importlib.import_module("google.api.httpbody_pb2").HttpBody
    chunks = [http_body.FromString(message) for message in answer.messages]
    assert chunks and chunks[0].content_type == CSV_MEDIA_TYPE
    expected = grpc_clients["indicators"].ExportObservations(request)
    assert b"".join(chunk.data for chunk in chunks) == b"".join(chunk.data for chunk in expected)


def test_grpc_web_unknown_service_is_unimplemented(stubs, gw):
    m = stubs["initiatives"]
    answer = grpc_web_call(gw, "/sse.nothing.v1.NoService/Get", m.GetInitiativeRequest(name="initiatives/tzcld"))
    assert answer.status == grpc.StatusCode.UNIMPLEMENTED.value[0], (answer.status, answer.message)


# --- CORS ------------------------------------------------------------------------------------


def preflight(gw, path: str, method: str, headers: str, origin: str = ORIGIN) -> requests.Response:
    return gw.session.options(
        gw.url(path),
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
        timeout=HTTP_TIMEOUT_S,
    )


def test_by_default_no_origin_is_allowed(gw):
    answer = gw.get("/v1/initiatives/tzcld", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert "Access-Control-Allow-Origin" not in answer.headers
    asked = preflight(gw, "/v1/initiatives/tzcld", "PATCH", "content-type,if-match")
    assert "Access-Control-Allow-Origin" not in asked.headers
    asked = preflight(gw, "/sse.initiatives.v1.InitiativeService/GetInitiative", "POST", "content-type,x-grpc-web")
    assert "Access-Control-Allow-Origin" not in asked.headers


@pytest.mark.server_env(OBSERVATORY_CORS_ALLOWED_ORIGINS=f"[{ORIGIN}]")
def test_a_configured_origin_passes_the_preflight_of_rest_and_grpc_web(gw):
    asked = preflight(gw, "/v1/initiatives/tzcld", "PATCH", "content-type,if-match,authorization")
    assert asked.status_code in (200, 204), asked.status_code
    assert asked.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "PATCH" in asked.headers.get("Access-Control-Allow-Methods", "").upper()
    allowed_headers = {h.strip().lower() for h in asked.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert {"content-type", "if-match", "authorization"} <= allowed_headers

    grpc_web = preflight(
        gw,
        "/sse.initiatives.v1.InitiativeService/GetInitiative",
        "POST",
        "content-type,x-grpc-web,x-user-agent,grpc-timeout",
    )
    assert grpc_web.status_code in (200, 204) and grpc_web.headers.get("Access-Control-Allow-Origin") == ORIGIN
    allowed_headers = {h.strip().lower() for h in grpc_web.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert {"content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"} <= allowed_headers

    other = "https://elsewhere.example"
    assert (
        "Access-Control-Allow-Origin"
        not in preflight(gw, "/v1/initiatives/tzcld", "PATCH", "content-type", other).headers
    )


@pytest.mark.server_env(OBSERVATORY_CORS_ALLOWED_ORIGINS=f"[{ORIGIN}, https://app.example.org]")
def test_configured_origins_read_rest_answers_and_errors(gw):
    for origin in (ORIGIN, "https://app.example.org"):
        answer = gw.get("/v1/initiatives/tzcld", headers={"Origin": origin})
        assert answer.status_code == 200
        assert answer.headers.get("Access-Control-Allow-Origin") == origin
        exposed = {h.strip().lower() for h in answer.headers.get("Access-Control-Expose-Headers", "").split(",")}
        assert "etag" in exposed
        assert "origin" in answer.headers.get("Vary", "").lower()
    error = gw.get("/v1/initiatives/no-such-one", headers={"Origin": ORIGIN})
    assert error.status_code == 404 and error.headers.get("Access-Control-Allow-Origin") == ORIGIN
    other = gw.get("/v1/initiatives/tzcld", headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.server_env(OBSERVATORY_CORS_ALLOWED_ORIGINS=f"[{ORIGIN}]")
def test_a_configured_origin_reads_grpc_web_answers(stubs, gw):
    m = stubs["initiatives"]
    web = grpc_web_call(
        gw,
        "/sse.initiatives.v1.InitiativeService/GetInitiative",
        m.GetInitiativeRequest(name="initiatives/tzcld"),
        headers={"Origin": ORIGIN},
    )
    assert web.status == 0, web.message
    assert web.http.headers.get("Access-Control-Allow-Origin") == ORIGIN
    exposed = {h.strip().lower() for h in web.http.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"grpc-status", "grpc-message"} <= exposed


# --- SDMX ------------------------------------------------------------------------------------


def media_type(response: requests.Response) -> str:
    return response.headers.get("content-type", "").replace(" ", "").lower()


def sdmx_get(gw, path: str, **kwargs) -> requests.Response:
    try:
        return gw.session.get(gw.url(path), timeout=HTTP_TIMEOUT_S, **kwargs)
    except requests.ConnectionError as error:
        pytest.fail(f"GET {path}: the gateway closed the connection without an answer ({error})")


@pytest.fixture
def dataflow(gw):
    return read_structure(gw.get("/v1/dataStructure").content)[1]


@pytest.fixture
def everything(gw, dataflow):
    """Every seeded figure, from the gateway's own SDMX-CSV: {key: (value, attributes)}, and
    the first and last instants of each TIME_PERIOD, from its SDMX-JSON."""
    csv = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", params={"format": "csv"})
    assert csv.status_code == 200, csv.text
    rows = sdmx_rows(read_csv(csv.content, dataflow))
    assert len(rows) == SEEDED_OBSERVATIONS
    tree = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", params={"format": "json"}).json()
    time_dimension = tree["data"]["structures"][0]["dimensions"]["observation"][5]
    spans = {value["id"]: (value["start"], value["end"]) for value in time_dimension["values"]}
    return rows, spans


def test_sdmx_csv_and_json_have_their_sdmx_media_types_and_read_with_sdmx1(stubs, gw, grpc_clients, dataflow):
    m = stubs["indicators"]
    csv = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", params={"format": "csv"})
    assert csv.status_code == 200, csv.text
    assert media_type(csv) == CSV_MEDIA_TYPE
    assert csv.text.split("\n")[0] == CSV_HEADER
    exported = grpc_clients["indicators"].ExportObservations(
        m.ExportObservationsRequest(format=m.EXPORT_FORMAT_SDMX_CSV)
    )
    assert csv.content == b"".join(chunk.data for chunk in exported), "the gateway's SDMX-CSV is the service's export"

    as_json = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", params={"format": "json"})
    assert as_json.status_code == 200, as_json.text
    assert media_type(as_json) == JSON_MEDIA_TYPE
    assert sdmx_rows(read_csv(csv.content, dataflow)) == sdmx_rows(read_json(as_json.content))

    # SDMX REST's default is SDMX-ML (structure-specific data); tests/e2e/test_sdmx_source.py reads it.
    by_default = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all")
    assert media_type(by_default) == "application/vnd.sdmx.structurespecificdata+xml;version=2.1"
    as_csv = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", headers={"Accept": CSV_MEDIA_TYPE})
    assert as_csv.content == csv.content
    negotiated = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", headers={"Accept": JSON_MEDIA_TYPE})
    assert media_type(negotiated) == JSON_MEDIA_TYPE
    without_key = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS", params={"format": "csv"})
    assert without_key.status_code == 200 and without_key.content == csv.content
    full_reference = sdmx_get(gw, "/sdmx/data/SSE,DF_SSE_OBS,1.0/all", params={"format": "csv"})
    assert full_reference.status_code == 200 and full_reference.content == csv.content


@pytest.mark.parametrize(
    ("key", "selects"),
    [
        ("land-restored..great-green-wall.T", lambda k: k[:4] == ("land-restored", "_Z", "great-green-wall", "T")),
        ("land-restored..great-green-wall.A+T", lambda k: k[0] == "land-restored" and k[2] == "great-green-wall"),
        ("territories.FR..", lambda k: k[0] == "territories" and k[1] == "FR"),
        ("..tzcld.", lambda k: k[2] == "tzcld"),
        ("...E", lambda k: k[3] == "E"),
        ("workers+territories", lambda k: k[0] in ("workers", "territories")),
        ("....", lambda k: True),
    ],
)
def test_sdmx_keys_select_the_figures_they_name(gw, dataflow, everything, key, selects):
    rows, _ = everything
    response = sdmx_get(gw, f"/sdmx/data/DF_SSE_OBS/{key}", params={"format": "csv"})
    assert response.status_code == 200, response.text
    selected = sdmx_rows(read_csv(response.content, dataflow)) if response.text.count("\n") > 1 else {}
    expected = {k: v for k, v in rows.items() if selects(k)}
    assert expected, f"the key {key} selects nothing in the seed: a useless case"
    assert selected == expected


def test_sdmx_the_great_green_wall_target(gw, dataflow):
    response = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/land-restored..great-green-wall.T", params={"format": "csv"})
    ((key, (value, attributes)),) = sdmx_rows(read_csv(response.content, dataflow)).items()
    assert key == ("land-restored", "_Z", "great-green-wall", "T", source_id(*UNCCD_2020), "2030")
    assert value == 100_000_000.0
    assert attributes["UNIT_MEASURE"] == "ha" and attributes["SOURCE_TITLE"] == UNCCD_2020[0]


@pytest.mark.parametrize(
    ("params", "keeps"),
    [
        # SDMX REST: startPeriod and endPeriod are inclusive, and a period is kept when it
        # overlaps [start of startPeriod, end of endPeriod].
        ({"startPeriod": "2021"}, lambda start, end: end >= "2021-01-01T00:00:00Z"),
        ({"startPeriod": "2016-05"}, lambda start, end: end >= "2016-05-01T00:00:00Z"),
        ({"endPeriod": "2016-03-31"}, lambda start, end: start <= "2016-03-31T23:59:59Z"),
        ({"endPeriod": "2016-04"}, lambda start, end: start <= "2016-04-30T23:59:59Z"),
        pytest.param(
            {"endPeriod": "2023"},
            lambda start, end: start <= "2023-12-31T23:59:59Z",
        ),
        (
            {"startPeriod": "2018", "endPeriod": "2019"},
            lambda start, end: end >= "2018-01-01T00:00:00Z" and start <= "2019-12-31T23:59:59Z",
        ),
    ],
    ids=["start-year", "start-month", "end-day", "end-month", "end-year", "start-end-years"],
)
def test_sdmx_period_bounds_keep_the_overlapping_figures(gw, dataflow, everything, params, keeps):
    rows, spans = everything
    response = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", params={**params, "format": "csv"})
    assert response.status_code == 200, response.text
    selected = sdmx_rows(read_csv(response.content, dataflow)) if response.text.count("\n") > 1 else {}
    expected = {k: v for k, v in rows.items() if keeps(*spans[k[5]])}
    missing = sorted((k[0], k[5]) for k in set(expected) - set(selected))
    extra = sorted((k[0], k[5]) for k in set(selected) - set(expected))
    assert not missing and not extra, f"{params}: missing {missing}, not wanted {extra}"


def sdmx_error_code(response: requests.Response) -> str:
    """The code of an SDMX-ML 2.1 error message."""
    assert media_type(response) == "application/vnd.sdmx.error+xml;version=2.1", response.text[:200]
    root = ElementTree.fromstring(response.content)
    namespace = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message}"
    return root.find(f"{namespace}ErrorMessage").get("code")


def test_sdmx_unknown_dataflow_is_404_and_bad_keys_or_periods_are_400(gw):
    # SDMX REST: 100 "no results" is 404, 140 "syntax error" is 400, as SDMX-ML error messages.
    for flow in ("DF_NOPE", "SSE,DF_OTHER,1.0"):
        response = sdmx_get(gw, f"/sdmx/data/{flow}/all")
        assert response.status_code == 404, f"{flow}: {response.status_code}"
        assert sdmx_error_code(response) == "100"
    for key in ("a.b.c.X", "a.b.c.d.e.f", 'land"restored', "land restored", "a.b.c.A.src 1"):
        response = sdmx_get(gw, f"/sdmx/data/DF_SSE_OBS/{key}")
        assert response.status_code == 400, f"key {key!r}: {response.status_code} {response.text[:200]}"
        assert sdmx_error_code(response) == "140"
    for params in ({"startPeriod": "2020-Q1"}, {"endPeriod": "yesterday"}, {"format": "xml"}):
        response = sdmx_get(gw, "/sdmx/data/DF_SSE_OBS/all", params=params)
        assert response.status_code == 400, f"{params}: {response.status_code}"
        assert sdmx_error_code(response) == "140"


# --- coverage of the document, and the answers against it (keep these last) -----------------


def whole_module_ran(request) -> bool:
    ours = [item for item in request.session.items if item.module is request.module]
    ran = {item.originalname for item in ours}
    defined = {name for name in dir(request.module) if name.startswith("test_")}
    return ran == defined


def route_of(openapi, method: str, path: str):
    matches = [
        (m, template)
        for (m, template) in openapi_operations(openapi)
        if m == method and path_regex(template).match(path)
    ]
    return matches[0] if len(matches) == 1 else None


def test_keys_and_the_audit_trail_over_rest(gw):
    created = gw.post("/v1/apiKeys", json={"displayName": "REST partner", "scopes": ["lawguide.write", "read"]})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["key"].startswith("sse_")
    key = body["apiKey"]
    assert key["scopes"] == ["lawguide.write", "read"]
    assert body["key"].startswith(key["keyPrefix"])
    fetched = gw.get(f"/v1/{key['name']}")
    assert fetched.status_code == 200 and fetched.json()["displayName"] == "REST partner"
    assert "key" not in fetched.json(), "the secret is shown once, at creation"
    listed = gw.get("/v1/apiKeys", params={"filter": 'display_name = "REST partner"'})
    assert [k["name"] for k in listed.json()["apiKeys"]] == [key["name"]]
    revoked = gw.post(f"/v1/{key['name']}:revoke", json={})
    assert revoked.status_code == 200 and revoked.json()["revokeTime"]
    trail = gw.get("/v1/auditEvents", params={"filter": 'method:"AccessService"', "pageSize": 10})
    assert trail.status_code == 200
    events = trail.json()["auditEvents"]
    assert [(e["method"].rsplit("/", 1)[1], e["resource"], e["caller"]) for e in events] == [
        ("RevokeApiKey", key["name"], "admin"),
        ("CreateApiKey", key["name"], "admin"),
    ]


def test_zz_every_rest_route_is_exercised_on_its_success_path(request, openapi):
    if not whole_module_ran(request):
        pytest.skip("route coverage is judged on a run of the whole module")
    covered = set()
    for method, path, _ in EXERCISED:
        route = route_of(openapi, method, path)
        assert route is not None, f"{method} {path} succeeded but is not exactly one route of /openapi.json"
        covered.add(route)
    missing = sorted(set(openapi_operations(openapi)) - covered)
    assert not missing, f"REST routes no test exercised successfully: {missing}"


def strict(document) -> dict:
    """The document's schemas with unknown properties refused, so that an answer may hold only
    what the document describes."""
    document = copy.deepcopy(document)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["components"])
    for item in document["paths"].values():
        walk(item)
    return document


def test_zz_every_success_answer_matches_its_documented_schema(request, openapi):
    if not whole_module_ran(request):
        pytest.skip("answers are checked on a run of the whole module")
    document = strict(openapi)
    operations = openapi_operations(document)
    failures = []
    for method, path, body in EXERCISED:
        route = route_of(document, method, path)
        if route is None:
            continue
        content = operations[route]["responses"]["200"]["content"]
        if "application/json" not in content:
            continue
        schema = content["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator(
            {**schema, "components": document["components"]},
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        for instance in body if isinstance(body, list) else [body]:
            for error in validator.iter_errors(instance):
                failures.append(f"{method} {path}: {error.message[:200]} at {list(error.absolute_path)}")
    assert not failures, "\n".join(failures[:20])


def test_a_patch_without_update_mask_writes_the_fields_its_body_names_even_to_clear_them(gw):
    # As grpc-gateway derives the mask from the body: `{"description": ""}` clears the description.
    before = gw.get("/v1/initiatives/la-guilde").json()
    assert before["description"]
    cleared = gw.patch("/v1/initiatives/la-guilde", json={"description": ""})
    assert cleared.status_code == 200, cleared.text
    after = cleared.json()
    assert "description" not in after, "an empty string is the default, left out of the JSON"
    assert after["displayName"] == before["displayName"], "fields the body does not name are kept"
    # Sending back what was read (name, etag, times) names only fields the mask ignores.
    echoed = gw.patch("/v1/initiatives/la-guilde", json={**after, "website": "https://laguilde.quebec/"})
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["website"] == "https://laguilde.quebec/"


def test_errors_the_gateway_answers_itself_carry_error_info(gw):
    unknown = gw.get("/v1/no-such-collection")
    assert unknown.status_code == 404
    info = [detail for detail in unknown.json()["details"] if detail["@type"].endswith("google.rpc.ErrorInfo")]
    assert info and info[0]["domain"] == "observatory.sse" and info[0]["reason"] == "NO_ROUTE"
    too_large = gw.post("/v1/initiatives", data=b"x" * (64 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413
