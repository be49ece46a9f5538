"""End-to-end tests of the indicators service (`sse.indicators.v1.IndicatorService`) inside
`observatory serve`, driven over gRPC by a client generated from proto/.

Each test gets a fresh server seeded with the four reference initiatives and the figures of
services/indicators/seed/indicators.yaml (see conftest.py). The SDMX exports are read with the
real SDMX library sdmx1, exactly as tests/e2e/sdmx_samples/README.md describes."""

import contextlib
import hashlib
import importlib
import io
import json
import unicodedata
import warnings

import grpc
import pytest
import sdmx
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from test_observatory import DOMAIN, error_details, new_initiative, rpc_error

SERVICE = "sse.indicators.v1.IndicatorService"
SEEDED_INDICATORS = {
    "land-restored",
    "land-to-work",
    "carbon-sequestered",
    "green-jobs",
    "territories",
    "people-hired-permanent",
    "member-organisations",
    "workers",
    "people-in-cooperatives",
    "sse-employment",
}
SEEDED_OBSERVATION_COUNT = 19

CSV_MEDIA_TYPE = "application/vnd.sdmx.data+csv;version=2.0.0"
JSON_MEDIA_TYPE = "application/vnd.sdmx.data+json;version=2.0.0"
STRUCTURE_MEDIA_TYPE = "application/vnd.sdmx.structure+xml;version=2.1"
DIMS = ["INDICATOR", "REF_AREA", "INITIATIVE", "OBS_STATUS", "SOURCE_ID", "TIME_PERIOD"]
ATTRS = ["UNIT_MEASURE", "SOURCE_TITLE", "SOURCE_URL", "SOURCE_PUBLISHER", "SOURCE_DATE", "COMMENT"]
CSV_HEADER = ",".join(["STRUCTURE", "STRUCTURE_ID", "ACTION", *DIMS, "OBS_VALUE", *ATTRS])

# The three Great Green Wall land-restored citations of the seed, as (title, url, publisher, date).
UNCCD_2020 = (
    "UNCCD, The Great Green Wall: Implementation Status and Way Ahead to 2030 (2020)",
    "https://www.unccd.int/publications/great-green-wall-implementation-status-and-way-ahead-2030",
    "UNCCD",
    "2020",
)
THISDAY = (
    "ThisDay, 2020-11-03",
    "https://www.thisdaylive.com/index.php/2020/11/03/about-20-million-hectares-of-land-restored-in-great-green-wall/",
    "ThisDay",
    "2020-11-03",
)
TWIB = (
    "Mongabay / TWIB report of the UNCCD status report",
    "https://www.twib.news/the-great-green-wall-is-moving-forward/",
    "TWIB",
    "",
)


def source_id(title: str, url: str, publisher: str, date: str) -> str:
    """SOURCE_ID as tests/e2e/sdmx_samples/README.md defines it, computed independently."""
    digest = hashlib.sha256(f"{title}\n{url}\n{publisher}\n{date}".encode()).hexdigest()
    return f"src-{digest[:12]}"


@pytest.fixture(scope="session")
def ipb(pb):
    """The generated modules `indicators_pb2` and `indicators_pb2_grpc` (the `pb` fixture has
    generated every package under proto/ and put them on sys.path)."""
    pb2 = importlib.import_module("sse.indicators.v1.indicators_pb2")
    pb2_grpc = importlib.import_module("sse.indicators.v1.indicators_pb2_grpc")
    return pb2, pb2_grpc


@pytest.fixture
def indicators(ipb, channel):
    """An IndicatorService client."""
    return ipb[1].IndicatorServiceStub(channel)


@contextlib.contextmanager
def warnings_as_errors():
    """Any warning sdmx1 (or pandas under it) raises is a failure, as in check_samples.py."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ResourceWarning)
        yield


def figure(ipb, **fields):
    """A valid observation of a figure about no initiative, with `fields` changed."""
    from sse.type.v1 import types_pb2

    m = ipb[0]
    values = dict(
        ref_area="FR",
        time_period="2022",
        value=1.0,
        status=m.Observation.STATUS_REPORTED,
        source=types_pb2.SourceCitation(title="End-to-end suite"),
    )
    values.update(fields)
    return m.Observation(**values)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def count_observations(ipb, indicators, parent="indicators/-") -> int:
    reply = indicators.ListObservations(ipb[0].ListObservationsRequest(parent=parent, page_size=1000))
    return reply.total_size


def aggregate(ipb, indicators, indicator, group_by, filter=""):
    """The response, and its rows as {(group values...): (value, count, set_aside_count)}."""
    reply = indicators.AggregateObservations(
        ipb[0].AggregateObservationsRequest(indicator=f"indicators/{indicator}", group_by=group_by, filter=filter)
    )
    rows = {tuple(g.value for g in row.group): (row.value, row.count, row.set_aside_count) for row in reply.rows}
    for row in reply.rows:
        fields = [g.field for g in row.group]
        expected = list(group_by) + ([] if "status" in group_by else ["status"])
        assert fields == expected, f"group fields {fields}, asked {group_by}"
    return reply, rows


def export(ipb, indicators, format, filter=""):
    """(content_type, the whole document as bytes) of one ExportObservations stream."""
    chunks = list(indicators.ExportObservations(ipb[0].ExportObservationsRequest(filter=filter, format=format)))
    assert chunks, "the export stream is empty"
    assert all(not chunk.content_type for chunk in chunks[1:]), "content_type is set only in the first message"
    return chunks[0].content_type, b"".join(chunk.data for chunk in chunks)


def read_structure(body: bytes):
    """SDMX-ML 2.1 structure message -> (DSD, dataflow), as the README's structure section."""
    with warnings_as_errors():
        msg = sdmx.read_sdmx(io.BytesIO(body))
    return msg.structure["DSD_SSE_OBS"], msg.dataflow["DF_SSE_OBS"]


def read_csv(body: bytes, dataflow):
    """SDMX-CSV 2.0 -> DataMessage; sdmx1 needs the dataflow to read SDMX-CSV."""
    with warnings_as_errors():
        return sdmx.read_sdmx(io.BytesIO(body), format="CSV", structure=dataflow)


def read_json(body: bytes):
    """SDMX-JSON 2.0.0 -> DataMessage, lifting data.structures[0] and data.dataSets to where
    sdmx1 2.28 reads them (see the README's data.json section)."""
    tree = json.loads(body)
    assert len(tree["data"]["structures"]) == 1
    tree["structure"] = tree["data"]["structures"][0]
    tree["dataSets"] = tree["data"]["dataSets"]
    with warnings_as_errors():
        return sdmx.read_sdmx(io.BytesIO(json.dumps(tree).encode()))


def sdmx_rows(msg):
    """{key tuple: (float value, {attribute: value})}, empty attributes dropped: CSV gives an
    absent attribute as "", JSON leaves it out."""
    assert len(msg.data) == 1, f"{len(msg.data)} data sets"
    dataset = msg.data[0]
    assert dataset.action.name == "information"
    out = {}
    for obs in dataset.obs:
        key = tuple(obs.key[dim].value for dim in DIMS)
        attrs = {k: v.value for k, v in obs.attached_attribute.items() if v.value not in ("", None)}
        assert key not in out, f"duplicate key {key}"
        out[key] = (float(obs.value), attrs)
    return out


# --- health and reflection -------------------------------------------------------------------


def test_health_is_serving_for_the_indicator_service(channel):
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("reflection", ["grpc.reflection.v1", "grpc.reflection.v1alpha"])
def test_reflection_lists_the_indicator_service_and_serves_its_file(ipb, channel, reflection):
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

    services = {service.name for service in listed.list_services_response.service}
    assert {SERVICE, "sse.initiatives.v1.InitiativeService"} <= services
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in containing.file_descriptor_response.file_descriptor_proto
    ]
    defining = [file for file in files if any(service.name == "IndicatorService" for service in file.service)]
    assert [file.name for file in defining] == ["sse/indicators/v1/indicators.proto"]
    served = {method.name for method in defining[0].service[0].method}
    in_repo = {method.name for method in ipb[0].DESCRIPTOR.services_by_name["IndicatorService"].methods}
    assert served == in_repo


# --- indicators and progress -----------------------------------------------------------------


def test_list_indicators_returns_the_ten_seeded_indicators(ipb, indicators):
    reply = indicators.ListIndicators(ipb[0].ListIndicatorsRequest(page_size=1000))
    assert reply.total_size == 10
    assert reply.next_page_token == ""
    assert {indicator.name.removeprefix("indicators/") for indicator in reply.indicators} == SEEDED_INDICATORS
    land = next(indicator for indicator in reply.indicators if indicator.name == "indicators/land-restored")
    Indicator = ipb[0].Indicator
    assert (land.unit, land.unit_label) == ("ha", "hectares")
    assert land.category == Indicator.CATEGORY_ENVIRONMENT
    assert land.aggregation == Indicator.AGGREGATION_SUM
    assert list(land.sdg_indicators) == ["15.3.1"]
    assert land.etag and land.HasField("create_time")
    assert count_observations(ipb, indicators) == SEEDED_OBSERVATION_COUNT


def test_progress_of_the_great_green_wall_is_20_of_100_million_hectares_restored(ipb, indicators):
    reply = indicators.GetProgress(ipb[0].GetProgressRequest(initiative="initiatives/great-green-wall"))
    by_indicator = {entry.indicator: entry for entry in reply.progress}
    assert list(by_indicator) == sorted(by_indicator), "ordered by indicator"
    assert set(by_indicator) == {
        "indicators/carbon-sequestered",
        "indicators/green-jobs",
        "indicators/land-restored",
        "indicators/land-to-work",
    }
    land = by_indicator["indicators/land-restored"]
    assert (land.display_name, land.unit) == ("Land restored", "ha")
    assert land.latest_target.value == 100_000_000
    assert land.latest_target.time_period == "2030"
    assert land.latest_target.status == ipb[0].Observation.STATUS_TARGET
    assert land.latest_reported.value == 20_000_000
    assert land.latest_reported.time_period == "2007/2020"
    # 18 Mha (TWIB, undated) and 20 Mha (ThisDay, 2020-11-03) for the same period: the dated,
    # more recent source is kept and the other is set aside.
    assert land.latest_reported.source.title == "ThisDay, 2020-11-03"
    assert land.set_aside_count == 1
    assert land.HasField("ratio") and land.ratio == pytest.approx(0.2)

    to_work = by_indicator["indicators/land-to-work"]
    assert to_work.latest_target.value == 50_000_000
    assert not to_work.HasField("latest_reported")
    assert not to_work.HasField("ratio")


# --- aggregation -----------------------------------------------------------------------------


def test_aggregation_by_legal_form_reads_the_initiatives_and_never_sums_targets_with_reported(ipb, indicators):
    # land-restored: the Great Green Wall (a PUBLIC_PROGRAMME) has a 100 Mha target for 2030 and
    # two reports for 2007/2020 (18 Mha, 20 Mha) from different sources: 20 Mha is kept.
    reply, rows = aggregate(ipb, indicators, "land-restored", ["legal_form"])
    assert rows == {
        ("PUBLIC_PROGRAMME", "REPORTED"): (20_000_000, 1, 1),
        ("PUBLIC_PROGRAMME", "TARGET"): (100_000_000, 1, 0),
    }
    assert reply.aggregation == ipb[0].Indicator.AGGREGATION_SUM
    assert reply.unit == "ha"
    assert reply.set_aside_count == 1
    for value, _, _ in rows.values():
        assert value not in (120_000_000, 138_000_000), "a target was added to a reported figure"

    # workers (SUM): La Guilde 2 200 (2018-10) and Mondragon 74 335 (2015) + 81 507 (2019), all
    # cooperatives.
    _, rows = aggregate(ipb, indicators, "workers", ["legal_form"])
    assert rows == {("COOPERATIVE", "REPORTED"): (2_200 + 74_335 + 81_507, 3, 0)}

    # green-jobs: a 10 M target and 350 000 reported, both of the Great Green Wall.
    _, rows = aggregate(ipb, indicators, "green-jobs", ["legal_form"])
    assert rows == {
        ("PUBLIC_PROGRAMME", "REPORTED"): (350_000, 1, 0),
        ("PUBLIC_PROGRAMME", "TARGET"): (10_000_000, 1, 0),
    }

    # member-organisations (LAST): La Guilde's 155 reported and 80 estimated stay apart.
    _, rows = aggregate(ipb, indicators, "member-organisations", ["legal_form"])
    assert rows == {("COOPERATIVE", "ESTIMATE"): (80, 1, 0), ("COOPERATIVE", "REPORTED"): (155, 1, 0)}

    # A figure about no initiative has an empty legal form.
    _, rows = aggregate(ipb, indicators, "people-in-cooperatives", ["legal_form"])
    assert rows == {("", "ESTIMATE"): (279_400_000, 1, 0)}


def test_aggregation_by_legal_form_sees_an_initiative_created_a_moment_ago(pb, ipb, initiatives, indicators):
    Initiative = pb.initiatives_pb2.Initiative
    initiatives.CreateInitiative(
        pb.initiatives_pb2.CreateInitiativeRequest(
            initiative=new_initiative(pb, legal_form=Initiative.LEGAL_FORM_MUTUAL), initiative_id="e2e-mutual"
        )
    )
    indicators.CreateObservation(
        ipb[0].CreateObservationRequest(
            parent="indicators/workers",
            observation=figure(ipb, initiative="initiatives/e2e-mutual", value=42, time_period="2023"),
        )
    )
    _, rows = aggregate(ipb, indicators, "workers", ["legal_form"])
    assert rows == {
        ("COOPERATIVE", "REPORTED"): (158_042, 3, 0),
        ("MUTUAL", "REPORTED"): (42, 1, 0),
    }
    mutual_only = 'initiative = "initiatives/e2e-mutual"'
    _, rows = aggregate(ipb, indicators, "workers", ["sdg_goal", "status"], filter=mutual_only)
    assert rows == {("8", "REPORTED"): (42, 1, 0)}


# --- errors ----------------------------------------------------------------------------------


def test_an_observation_of_an_unknown_initiative_is_a_failed_precondition_and_writes_nothing(ipb, indicators):
    before = count_observations(ipb, indicators)
    request = ipb[0].CreateObservationRequest(
        parent="indicators/workers",
        observation=figure(ipb, initiative="initiatives/no-such-initiative"),
    )
    error = rpc_error(indicators.CreateObservation, request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "initiatives/no-such-initiative" in error.details()
    info, _ = error_details(error)
    assert (info.reason, info.domain) == ("INITIATIVE_NOT_FOUND", DOMAIN)
    assert count_observations(ipb, indicators) == before


@pytest.mark.parametrize("period", ["2023-Q5", "2020/2007", "last year"])
def test_a_bad_time_period_is_invalid_argument_naming_observation_time_period(ipb, indicators, period):
    before = count_observations(ipb, indicators)
    request = ipb[0].CreateObservationRequest(
        parent="indicators/workers",
        observation=figure(ipb, initiative="initiatives/mondragon", time_period=period),
    )
    error = rpc_error(indicators.CreateObservation, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = error_details(error)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)
    assert bad_request is not None, "no BadRequest detail"
    assert [violation.field for violation in bad_request.field_violations] == ["observation.time_period"]
    assert count_observations(ipb, indicators) == before


# --- SDG reference lists ---------------------------------------------------------------------


def test_sdg_lists_give_17_goals_with_french_titles_169_targets_and_indicators_by_target(ipb, indicators):
    m = ipb[0]
    goals = indicators.ListSdgGoals(m.ListSdgGoalsRequest(language="fr")).goals
    assert [goal.code for goal in goals] == [str(number) for number in range(1, 18)]
    assert goals[7].title.startswith("Promouvoir"), goals[7].title
    assert nfc(goals[0].title).startswith("Éliminer la pauvreté"), goals[0].title
    english = indicators.ListSdgGoals(m.ListSdgGoalsRequest()).goals
    assert english[7].short_title == "Decent work and economic growth"

    assert len(indicators.ListSdgTargets(m.ListSdgTargetsRequest()).targets) == 169
    of_goal_8 = indicators.ListSdgTargets(m.ListSdgTargetsRequest(goal="8", language="es")).targets
    assert of_goal_8[0].code == "8.1" and all(target.goal == "8" for target in of_goal_8)
    of_target = indicators.ListSdgIndicators(m.ListSdgIndicatorsRequest(parent="8.5")).indicators
    assert [indicator.code for indicator in of_target] == ["8.5.1", "8.5.2"]

    error = rpc_error(indicators.ListSdgGoals, m.ListSdgGoalsRequest(language="de"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, bad_request = error_details(error)
    assert [violation.field for violation in bad_request.field_violations] == ["language"]


def test_sdg_titles_in_french_and_spanish_are_unicode_nfc(ipb, indicators):
    # Text exchanged on the web should be NFC (W3C Character Model): a client comparing or
    # searching "pauvreté" typed on a keyboard (NFC) does not find a decomposed "pauvreté".
    m = ipb[0]
    for language in ("fr", "es"):
        texts = [goal.title for goal in indicators.ListSdgGoals(m.ListSdgGoalsRequest(language=language)).goals]
        targets = indicators.ListSdgTargets(m.ListSdgTargetsRequest(language=language)).targets
        texts += [target.title for target in targets]
        decomposed = [text for text in texts if text != nfc(text)]
        assert not decomposed, f"{len(decomposed)} of {len(texts)} {language} titles are not NFC: {decomposed[0]!r}"


# --- SDMX ------------------------------------------------------------------------------------


def test_the_data_structure_reads_with_sdmx1_as_the_published_dsd_and_dataflow(ipb, indicators):
    reply = indicators.GetDataStructure(ipb[0].GetDataStructureRequest())
    assert reply.content_type == STRUCTURE_MEDIA_TYPE
    dsd, dataflow = read_structure(reply.data)
    assert dsd.urn == "urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=SSE:DSD_SSE_OBS(1.0)"
    assert (dataflow.maintainer.id, dataflow.version) == ("SSE", "1.0")
    assert dataflow.structure is dsd
    assert [dim.id for dim in dsd.dimensions] == DIMS
    assert type(dsd.dimensions.get("TIME_PERIOD")).__name__ == "TimeDimension"
    assert [attr.id for attr in dsd.attributes] == ATTRS
    assert [measure.id for measure in dsd.measures] == ["OBS_VALUE"]
    codes = dsd.dimensions.get("OBS_STATUS").local_representation.enumerated
    assert [code.id for code in codes] == ["A", "E", "P", "T"]
    assert str(codes["T"].name) == "Target value"


def test_great_green_wall_land_restored_exports_read_with_sdmx1_identically_in_csv_and_json(ipb, indicators):
    m = ipb[0]
    _, dataflow = read_structure(indicators.GetDataStructure(m.GetDataStructureRequest()).data)
    only_land = 'indicator = "indicators/land-restored"'

    csv_type, csv_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_CSV, only_land)
    assert csv_type == CSV_MEDIA_TYPE
    assert not csv_body.startswith(b"\xef\xbb\xbf"), "SDMX-CSV must have no BOM"
    assert csv_body.decode().split("\n")[0] == CSV_HEADER
    assert csv_body.endswith(b"\n") and not csv_body.endswith(b"\n\n")
    json_type, json_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_JSON, only_land)
    assert json_type == JSON_MEDIA_TYPE

    csv_msg, json_msg = read_csv(csv_body, dataflow), read_json(json_body)
    assert [dim.id for dim in json_msg.structure.dimensions] == DIMS
    by_csv, by_json = sdmx_rows(csv_msg), sdmx_rows(json_msg)
    assert by_csv == by_json

    unccd, thisday, twib = source_id(*UNCCD_2020), source_id(*THISDAY), source_id(*TWIB)
    assert unccd == "src-767c803bc9a2", "the README's worked example"
    ggw = ("land-restored", "_Z", "great-green-wall")  # the seed gives these figures no area
    assert set(by_csv) == {
        (*ggw, "A", thisday, "2007-01-01/P14Y"),
        (*ggw, "A", twib, "2007-01-01/P14Y"),
        (*ggw, "T", unccd, "2030"),
    }
    reported = {key[4]: value for key, (value, _) in by_csv.items() if key[3] == "A"}
    assert reported == {thisday: 20_000_000.0, twib: 18_000_000.0}
    assert len(set(reported)) == 2, "the two reports have distinct SOURCE_IDs"

    target_value, target_attrs = by_csv[(*ggw, "T", unccd, "2030")]
    assert target_value == 100_000_000.0
    assert target_attrs == {
        "UNIT_MEASURE": "ha",
        "SOURCE_TITLE": UNCCD_2020[0],
        "SOURCE_URL": UNCCD_2020[1],
        "SOURCE_PUBLISHER": "UNCCD",
        "SOURCE_DATE": "2020",
    }
    _, thisday_attrs = by_csv[(*ggw, "A", thisday, "2007-01-01/P14Y")]
    assert thisday_attrs["SOURCE_DATE"] == "2020-11-03"
    assert thisday_attrs["COMMENT"] == "Another report of the same UNCCD status report gives 18 million hectares."
    _, twib_attrs = by_csv[(*ggw, "A", twib, "2007-01-01/P14Y")]
    assert "SOURCE_DATE" not in twib_attrs

    # The JSON's TIME_PERIOD values carry the first and last second of the period.
    tree = json.loads(json_body)
    time_dim = tree["data"]["structures"][0]["dimensions"]["observation"][5]
    spans = {value["id"]: (value["start"], value["end"]) for value in time_dim["values"]}
    assert spans["2007-01-01/P14Y"] == ("2007-01-01T00:00:00Z", "2020-12-31T23:59:59Z")
    assert spans["2030"] == ("2030-01-01T00:00:00Z", "2030-12-31T23:59:59Z")


def test_the_whole_seed_exports_to_the_same_observations_in_sdmx_csv_and_json(ipb, indicators):
    m = ipb[0]
    _, dataflow = read_structure(indicators.GetDataStructure(m.GetDataStructureRequest()).data)
    csv_type, csv_body = export(ipb, indicators, m.EXPORT_FORMAT_UNSPECIFIED)
    assert csv_type == CSV_MEDIA_TYPE, "SDMX-CSV when no format is given"
    _, json_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_JSON)
    by_csv, by_json = sdmx_rows(read_csv(csv_body, dataflow)), sdmx_rows(read_json(json_body))
    assert len(by_csv) == SEEDED_OBSERVATION_COUNT
    assert by_csv == by_json
    statuses = {key[3] for key in by_csv}
    assert statuses == {"A", "E", "T"}
    world = [key for key in by_csv if key[0] == "people-in-cooperatives"]
    assert [key[:4] for key in world] == [("people-in-cooperatives", "WORLD", "_Z", "E")]
    assert all(attrs["UNIT_MEASURE"] and attrs["SOURCE_TITLE"] for _, attrs in by_csv.values())
    territories_2016 = next(key for key in by_csv if key[0] == "territories" and key[5] == "2016")
    assert by_csv[territories_2016][1]["SOURCE_TITLE"] == "Loi n° 2016-231 and press coverage"
    # Every interval of the seed is rewritten as a start and a duration.
    intervals = {
        (key[0], key[5]) for key in by_csv if key[0] in ("people-hired-permanent", "sse-employment") and "/" in key[5]
    }
    assert intervals == {("people-hired-permanent", "2016-01-01/P6Y"), ("sse-employment", "2014-01-01/P2Y")}
    assert not any("/" in key[5] and "/P" not in key[5] for key in by_csv), "an ISO interval left as written"


def test_an_export_with_no_matching_observation_reads_as_an_empty_data_set(ipb, indicators):
    m = ipb[0]
    _, dataflow = read_structure(indicators.GetDataStructure(m.GetDataStructureRequest()).data)
    nothing = 'indicator = "indicators/no-such-indicator"'
    _, csv_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_CSV, nothing)
    assert csv_body.decode() == CSV_HEADER + "\n"
    assert len(read_csv(csv_body, dataflow).data) == 0
    _, json_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_JSON, nothing)
    json_msg = read_json(json_body)
    assert sum(len(dataset.obs) for dataset in json_msg.data) == 0


def test_every_stored_observation_is_exported_once_under_its_own_key_in_csv_and_json(ipb, indicators):
    # The API accepts two figures from one source for one initiative, place, period and status
    # (a revised figure, say); aggregation then keeps the lower one and sets the other aside.
    from sse.type.v1 import types_pb2

    m = ipb[0]
    same_source = types_pb2.SourceCitation(title="One report, two figures")
    for value in (5, 7):
        observation = figure(ipb, initiative="initiatives/tzcld", time_period="2020", value=value, source=same_source)
        indicators.CreateObservation(m.CreateObservationRequest(parent="indicators/workers", observation=observation))
    only_these = 'indicator = "indicators/workers" AND initiative = "initiatives/tzcld"'
    stored = indicators.ListObservations(m.ListObservationsRequest(parent="indicators/workers", filter=only_these))
    assert stored.total_size == 2

    _, dataflow = read_structure(indicators.GetDataStructure(m.GetDataStructureRequest()).data)
    _, csv_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_CSV, only_these)
    _, json_body = export(ipb, indicators, m.EXPORT_FORMAT_SDMX_JSON, only_these)
    csv_keys = [tuple(obs.key[dim].value for dim in DIMS) for obs in read_csv(csv_body, dataflow).data[0].obs]
    json_keys = [tuple(obs.key[dim].value for dim in DIMS) for obs in read_json(json_body).data[0].obs]
    assert len(csv_keys) == len(set(csv_keys)) == stored.total_size, f"SDMX-CSV keys: {csv_keys}"
    assert len(json_keys) == len(set(json_keys)) == stored.total_size, f"SDMX-JSON keys: {json_keys}"


@pytest.mark.server_env(OBSERVATORY_INITIATIVES_URL="http://127.0.0.1:1")
def test_with_the_initiatives_service_unreachable_calls_that_need_it_are_unavailable(ipb, indicators):
    m = ipb[0]
    before = count_observations(ipb, indicators)
    request = m.CreateObservationRequest(
        parent="indicators/workers", observation=figure(ipb, initiative="initiatives/mondragon")
    )
    error = rpc_error(indicators.CreateObservation, request)
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
    assert count_observations(ipb, indicators) == before, "nothing written"

    by_legal_form = m.AggregateObservationsRequest(indicator="indicators/workers", group_by=["legal_form"])
    assert rpc_error(indicators.AggregateObservations, by_legal_form).code() == grpc.StatusCode.UNAVAILABLE

    # What needs no initiative's facts still works.
    _, rows = aggregate(ipb, indicators, "workers", ["initiative"])
    assert rows[("initiatives/mondragon", "REPORTED")] == (74_335 + 81_507, 2, 0)
    plain = m.CreateObservationRequest(parent="indicators/workers", observation=figure(ipb))
    created = indicators.CreateObservation(plain)
    assert created.observation.name.startswith("indicators/workers/observations/")
