"""End-to-end tests of `observatory serve`, driven over gRPC by a client generated from proto/.

Each test gets a fresh server seeded with the four reference initiatives (see conftest.py)."""

import time
import uuid

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

SERVICE = "sse.initiatives.v1.InitiativeService"
DOMAIN = "observatory.sse"
SEEDED = {"great-green-wall", "tzcld", "la-guilde", "mondragon"}


def ids(initiatives):
    return [initiative.name.removeprefix("initiatives/") for initiative in initiatives]


def new_initiative(pb, **fields):
    Initiative = pb.initiatives_pb2.Initiative
    values = dict(
        display_name="Coopérative de test e2e",
        description="A cooperative created by the end-to-end suite.",
        legal_form=Initiative.LEGAL_FORM_COOPERATIVE,
        status=Initiative.STATUS_ACTIVE,
        countries=["FR"],
        sdg_goals=[8],
    )
    values.update(fields)
    return Initiative(**values)


def list_all(pb, initiatives, **request):
    return initiatives.ListInitiatives(pb.initiatives_pb2.ListInitiativesRequest(page_size=1000, **request))


def rpc_error(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args)
    return caught.value


def error_details(error: grpc.RpcError):
    """The ErrorInfo and BadRequest of a google.rpc.Status error (None where absent)."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status in the trailers of {error.code()}: {error.details()}"
    info, bad_request = None, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    assert info is not None, f"no ErrorInfo among the details of {error.code()}: {error.details()}"
    return info, bad_request


def test_health_is_serving_for_the_server_and_the_initiative_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    error = rpc_error(health.Check, health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("reflection", ["grpc.reflection.v1", "grpc.reflection.v1alpha"])
def test_reflection_lists_the_service_and_returns_the_file_defining_it(pb, channel, reflection):
    # v1 and v1alpha share one wire format, so the v1alpha messages serve both method paths.
    info = channel.stream_stream(
        f"/{reflection}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listed, containing = list(info(iter(requests), timeout=10))

    assert SERVICE in {service.name for service in listed.list_services_response.service}
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in containing.file_descriptor_response.file_descriptor_proto
    ]
    defining = [file for file in files if any(service.name == "InitiativeService" for service in file.service)]
    assert [file.name for file in defining] == ["sse/initiatives/v1/initiatives.proto"]
    assert defining[0].package == "sse.initiatives.v1"
    served_methods = {method.name for method in defining[0].service[0].method}
    repo_service = pb.initiatives_pb2.DESCRIPTOR.services_by_name["InitiativeService"]
    repo_methods = {method.name for method in repo_service.methods}
    assert served_methods == repo_methods


def test_list_returns_the_four_seeded_initiatives(pb, initiatives):
    reply = list_all(pb, initiatives)
    assert set(ids(reply.initiatives)) == SEEDED
    assert reply.total_size == 4
    assert reply.next_page_token == ""
    tzcld = next(initiative for initiative in reply.initiatives if initiative.name == "initiatives/tzcld")
    assert list(tzcld.countries) == ["FR"]
    assert tzcld.etag and tzcld.HasField("create_time") and not tzcld.HasField("delete_time")


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ('countries:"FR"', {"tzcld"}),
        ("sdg_goals:8 AND legal_form = COOPERATIVE", {"la-guilde", "mondragon"}),
        ('display_name:"green"', {"great-green-wall"}),
    ],
)
def test_list_filter_selects_matching_initiatives(pb, initiatives, filter, expected):
    reply = list_all(pb, initiatives, filter=filter)
    assert set(ids(reply.initiatives)) == expected
    assert reply.total_size == len(expected)


def test_pagination_with_page_size_2_walks_every_seeded_initiative_once(pb, initiatives):
    seen, pages, token = [], 0, ""
    while True:
        reply = initiatives.ListInitiatives(pb.initiatives_pb2.ListInitiativesRequest(page_size=2, page_token=token))
        pages += 1
        assert len(reply.initiatives) <= 2
        assert reply.total_size == 4
        seen += ids(reply.initiatives)
        token = reply.next_page_token
        if not token:
            break
        assert pages < 5, f"pagination did not end: {seen}"
    assert len(seen) == len(set(seen)), f"duplicates across pages: {seen}"
    assert set(seen) == SEEDED
    assert pages == 2


def test_create_get_update_with_mask_and_stale_etag_is_aborted(pb, initiatives):
    m = pb.initiatives_pb2
    created = initiatives.CreateInitiative(
        m.CreateInitiativeRequest(initiative=new_initiative(pb), initiative_id="e2e-coop")
    ).initiative
    assert created.name == "initiatives/e2e-coop"
    assert created.etag and created.HasField("create_time")

    fetched = initiatives.GetInitiative(m.GetInitiativeRequest(name=created.name)).initiative
    assert fetched == created

    change = m.Initiative(
        name=created.name,
        etag=created.etag,
        display_name="Coopérative renommée",
        description="Not in the mask, so not written.",
    )
    request = m.UpdateInitiativeRequest(initiative=change)
    request.update_mask.paths.append("display_name")
    updated = initiatives.UpdateInitiative(request).initiative
    assert updated.display_name == "Coopérative renommée"
    assert updated.description == created.description
    assert list(updated.countries) == ["FR"]
    assert updated.etag != created.etag
    assert updated.create_time == created.create_time
    assert updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
    assert initiatives.GetInitiative(m.GetInitiativeRequest(name=created.name)).initiative == updated

    request.initiative.display_name = "Written with a stale etag"
    error = rpc_error(initiatives.UpdateInitiative, request)
    assert error.code() == grpc.StatusCode.ABORTED
    info, _ = error_details(error)
    assert (info.reason, info.domain) == ("ETAG_MISMATCH", DOMAIN)
    assert initiatives.GetInitiative(m.GetInitiativeRequest(name=created.name)).initiative == updated


def test_delete_hides_from_list_show_deleted_reveals_and_undelete_restores(pb, initiatives):
    m = pb.initiatives_pb2
    deleted = initiatives.DeleteInitiative(m.DeleteInitiativeRequest(name="initiatives/tzcld")).initiative
    assert deleted.HasField("delete_time")

    visible = list_all(pb, initiatives)
    assert set(ids(visible.initiatives)) == SEEDED - {"tzcld"}
    assert visible.total_size == 3
    everything = list_all(pb, initiatives, show_deleted=True)
    assert set(ids(everything.initiatives)) == SEEDED
    assert everything.total_size == 4
    still_readable = initiatives.GetInitiative(m.GetInitiativeRequest(name="initiatives/tzcld")).initiative
    assert still_readable.HasField("delete_time")

    restored = initiatives.UndeleteInitiative(m.UndeleteInitiativeRequest(name="initiatives/tzcld")).initiative
    assert not restored.HasField("delete_time")
    assert set(ids(list_all(pb, initiatives).initiatives)) == SEEDED


def test_create_retried_with_the_same_request_id_returns_the_first_result(pb, initiatives):
    request = pb.initiatives_pb2.CreateInitiativeRequest(initiative=new_initiative(pb), request_id=str(uuid.uuid4()))
    first = initiatives.CreateInitiative(request).initiative
    retried = initiatives.CreateInitiative(request).initiative
    assert retried.name == first.name
    assert retried.create_time == first.create_time
    assert retried.etag == first.etag
    assert list_all(pb, initiatives).total_size == 5


def test_unknown_country_is_invalid_argument_naming_the_field(pb, initiatives):
    request = pb.initiatives_pb2.CreateInitiativeRequest(
        initiative=new_initiative(pb, countries=["FR", "XX"]), initiative_id="bad-country"
    )
    error = rpc_error(initiatives.CreateInitiative, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = error_details(error)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)
    assert bad_request is not None, "no BadRequest detail"
    assert "initiative.countries[1]" in [violation.field for violation in bad_request.field_violations]
    assert list_all(pb, initiatives).total_size == 4


def test_batch_create_writes_all_in_order_or_nothing(pb, initiatives):
    m = pb.initiatives_pb2
    valid = [
        m.CreateInitiativeRequest(initiative=new_initiative(pb, display_name=f"Batch {n}"), initiative_id=f"batch-{n}")
        for n in (1, 2)
    ]
    created = initiatives.BatchCreateInitiatives(m.BatchCreateInitiativesRequest(requests=valid)).initiatives
    assert ids(created) == ["batch-1", "batch-2"]
    assert list_all(pb, initiatives).total_size == 6

    mixed = [
        m.CreateInitiativeRequest(initiative=new_initiative(pb), initiative_id="batch-3"),
        m.CreateInitiativeRequest(initiative=new_initiative(pb, countries=["XX"]), initiative_id="batch-4"),
    ]
    error = rpc_error(initiatives.BatchCreateInitiatives, m.BatchCreateInitiativesRequest(requests=mixed))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = error_details(error)
    assert [violation.field for violation in bad_request.field_violations] == ["requests[1].initiative.countries[0]"]
    assert list_all(pb, initiatives).total_size == 6


@pytest.mark.parametrize("filter", ['countries:"FR" AND', "no_such_field = 1", "sdg_goals:eight"])
def test_bad_filter_is_invalid_argument_naming_a_position(pb, initiatives, filter):
    error = rpc_error(initiatives.ListInitiatives, pb.initiatives_pb2.ListInitiativesRequest(filter=filter))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "position" in error.details()
    info, _ = error_details(error)
    assert (info.reason, info.domain) == ("INVALID_FILTER", DOMAIN)


def test_get_unknown_initiative_is_not_found_with_error_info(pb, initiatives):
    request = pb.initiatives_pb2.GetInitiativeRequest(name="initiatives/no-such-one")
    error = rpc_error(initiatives.GetInitiative, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    info, _ = error_details(error)
    assert (info.reason, info.domain) == ("NOT_FOUND", DOMAIN)


def test_sigterm_exits_0_and_stops_serving(pb, server, initiatives):
    assert list_all(pb, initiatives).total_size == 4
    assert server.stop() == 0
    error = rpc_error(initiatives.ListInitiatives, pb.initiatives_pb2.ListInitiativesRequest())
    assert error.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.server_env(OBSERVATORY_SHUTDOWN_GRACE_SECONDS="2")
def test_sigterm_reports_not_serving_and_ends_open_streams_after_the_grace_period(server, channel):
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

    signalled = time.monotonic()
    server.terminate()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.RpcError):
        next(watch)
    assert server.stop() == 0
    assert 1.5 <= time.monotonic() - signalled <= 8
