"""The observatory as an SDMX REST source, used by sdmx1 (the Python SDMX client) as a statistician
would: registered with `sdmx.add_source`, then `Client.dataflow`, `Client.datastructure` and
`Client.data` with partial keys and periods, and `sdmx.to_pandas` -- nothing restructured by hand.
Every figure read is checked against the API's own answer (ListObservations over gRPC).

The requests are the ones sdmx1 makes: `{url}/dataflow/{agency}/{id}/latest?references=all` (the
agency is the source's id, here SSEOBS) and `{url}/data/{flow}/{key}`. SDMX reads are public: the
sdmx1 client sends no key."""

import io
from xml.etree import ElementTree

import pytest
import requests
import sdmx

from test_gateway import gw  # noqa: F401 (a fixture)
from test_indicators import (  # noqa: F401 (ipb and indicators are fixtures)
    DIMS,
    ipb,
    indicators,
    read_csv,
    read_structure,
    sdmx_rows,
    source_id,
    warnings_as_errors,
)

SPECIFIC_MEDIA_TYPE = "application/vnd.sdmx.structurespecificdata+xml;version=2.1"
GENERIC_MEDIA_TYPE = "application/vnd.sdmx.genericdata+xml;version=2.1"
CSV_MEDIA_TYPE = "application/vnd.sdmx.data+csv;version=2.0.0"
JSON1_MEDIA_TYPE = "application/vnd.sdmx.data+json;version=1.0.0"
ERROR_MEDIA_TYPE = "application/vnd.sdmx.error+xml;version=2.1"
STATUS_CODES = {0: "A", 1: "T", 2: "A", 3: "E", 4: "P"}  # Observation.Status -> CL_OBS_STATUS


@pytest.fixture
def client(gw):  # noqa: F811
    """sdmx1's client of the observatory, registered as the README says. sdmx1 keeps sources in a
    module-level registry, so each test registers it again for its own server (override=True)."""
    sdmx.add_source({"id": "SSEOBS", "url": f"{gw.base}/sdmx", "name": "SSE Observatory"}, override=True)
    return sdmx.Client("SSEOBS")


def sdmx_time_period(written: str) -> str:
    """TIME_PERIOD as the SDMX exports write it: a range of years `2007/2020` is `2007-01-01/P14Y`
    (tests/e2e/sdmx_samples/README.md); the figures read here use no other kind of range."""
    if "/" not in written:
        return written
    start, end = written.split("/")
    assert len(start) == len(end) == 4, f"a range this test does not convert: {written}"
    return f"{start}-01-01/P{int(end) - int(start) + 1}Y"


def partial_date(date) -> str:
    if not date.year:
        return ""
    if not date.month:
        return f"{date.year:04d}"
    if not date.day:
        return f"{date.year:04d}-{date.month:02d}"
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}"


def api_figures(ipb, indicators, parent: str, filter: str = "") -> dict:  # noqa: F811
    """{SDMX key: value} of the observations ListObservations gives, keyed as SDMX keys them."""
    m = ipb[0]
    figures, token = {}, ""
    while True:
        reply = indicators.ListObservations(
            m.ListObservationsRequest(parent=parent, filter=filter, page_size=1000, page_token=token)
        )
        for observation in reply.observations:
            source = observation.source
            key = (
                observation.name.split("/")[1],
                observation.ref_area or "_Z",
                observation.initiative.removeprefix("initiatives/") or "_Z",
                STATUS_CODES[observation.status],
                source_id(source.title, source.url, source.publisher, partial_date(source.date)),
                sdmx_time_period(observation.time_period),
            )
            assert key not in figures, f"two figures under {key}: this test's selection must avoid them"
            figures[key] = observation.value
        token = reply.next_page_token
        if not token:
            return figures


def pandas_figures(msg) -> dict:
    """sdmx.to_pandas of a data message, as {key in DIMS order: value}."""
    series = sdmx.to_pandas(msg)
    names = list(series.index.names)
    assert sorted(names) == sorted(DIMS), names
    return {tuple(index[names.index(dim)] for dim in DIMS): float(value) for index, value in series.items()}


def pandas_attribute(msg, attribute: str) -> dict:
    """One observation attribute of sdmx.to_pandas(attributes="o"), as {key in DIMS order: value}."""
    frame = sdmx.to_pandas(msg, attributes="o")
    names = list(frame.index.names)
    return {tuple(index[names.index(dim)] for dim in DIMS): value for index, value in frame[attribute].items()}


def media_type(response) -> str:
    return response.headers.get("content-type", "").replace(" ", "").lower()


def sdmx_error(response) -> str:
    assert media_type(response) == ERROR_MEDIA_TYPE, response.text[:300]
    root = ElementTree.fromstring(response.content)
    return root.find("{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message}ErrorMessage").get("code")


def test_sdmx1_reads_the_dataflow_with_its_structure_and_the_codelists_of_the_codes_in_use(
    gw, client, ipb, indicators  # noqa: F811
):
    with warnings_as_errors():
        msg = client.dataflow("DF_SSE_OBS", params={"references": "all"})
    assert msg.response.url == f"{gw.base}/sdmx/dataflow/SSEOBS/DF_SSE_OBS/latest?references=all"
    assert "Authorization" not in msg.response.request.headers, "SDMX reads are public"
    flow = msg.dataflow["DF_SSE_OBS"]
    assert flow.urn == "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=SSE:DF_SSE_OBS(1.0)"
    dsd = flow.structure
    assert not dsd.is_external_reference, "references=all brings the data structure itself"
    assert [dim.id for dim in dsd.dimensions] == DIMS

    # The same components as the service's own structure message (GetDataStructure).
    published, _ = read_structure(indicators.GetDataStructure(ipb[0].GetDataStructureRequest()).data)
    assert [dim.id for dim in published.dimensions] == DIMS
    assert [a.id for a in dsd.attributes] == [a.id for a in published.attributes]
    assert [m.id for m in dsd.measures] == [m.id for m in published.measures]

    # The codelists list the codes in use: every indicator of the catalogue, every area of a figure.
    assert set(msg.codelist) == {"CL_INDICATOR", "CL_REF_AREA", "CL_INITIATIVE", "CL_OBS_STATUS"}
    listed = indicators.ListIndicators(ipb[0].ListIndicatorsRequest(page_size=1000)).indicators
    assert {code.id: str(code.name) for code in msg.codelist["CL_INDICATOR"]} == {
        indicator.name.removeprefix("indicators/"): indicator.display_name for indicator in listed
    }
    figures = api_figures(ipb, indicators, "indicators/-")
    assert {key[1] for key in figures} <= {code.id for code in msg.codelist["CL_REF_AREA"]}
    assert {key[2] for key in figures} <= {code.id for code in msg.codelist["CL_INITIATIVE"]}
    assert str(msg.codelist["CL_REF_AREA"]["FR"].name) == "France"
    assert {code.id for code in msg.codelist["CL_OBS_STATUS"]} == {"A", "E", "P", "T"}
    assert dsd.dimensions.get("INDICATOR").local_representation.enumerated is msg.codelist["CL_INDICATOR"]
    assert "INDICATOR" in msg.concept_scheme["CS_SSE_OBS"]

    # references= says how much comes with the dataflow.
    alone = client.dataflow("DF_SSE_OBS", params={"references": "none"})
    assert list(alone.dataflow) == ["DF_SSE_OBS"] and not alone.codelist
    assert alone.dataflow["DF_SSE_OBS"].structure.is_external_reference, "only a reference to the DSD"
    assert "<str:DataStructures>" not in alone.response.text
    children = client.dataflow("DF_SSE_OBS", params={"references": "children"})
    assert not children.structure["DSD_SSE_OBS"].is_external_reference
    assert "<str:Codelists>" not in children.response.text, "the codelists are the DSD's children, not the flow's"


def test_sdmx1_reads_the_data_structure_codelists_and_concepts_by_their_own_queries(gw, client):  # noqa: F811
    with warnings_as_errors():
        msg = client.datastructure("DSD_SSE_OBS")
    assert [dim.id for dim in msg.structure["DSD_SSE_OBS"].dimensions] == DIMS
    assert set(msg.codelist) == {"CL_INDICATOR", "CL_REF_AREA", "CL_INITIATIVE", "CL_OBS_STATUS"}

    statuses = client.codelist("CL_OBS_STATUS", params={"references": "none"})
    assert sdmx.to_pandas(statuses.codelist["CL_OBS_STATUS"])["T"] == "Target value"
    concepts = client.conceptscheme("CS_SSE_OBS")
    assert {concept.id for concept in concepts.concept_scheme["CS_SSE_OBS"]} >= set(DIMS) | {"OBS_VALUE"}

    # The agency `all`, every version, and SDMX REST 3.0's /structure/ prefix.
    for path in (
        "/sdmx/dataflow/all/all/all",
        "/sdmx/dataflow/SSE/DF_SSE_OBS/1.0",
        "/sdmx/dataflow",
        "/sdmx/structure/dataflow/SSE/DF_SSE_OBS/1.0",
    ):
        response = requests.get(gw.url(path), timeout=30)
        assert response.status_code == 200, f"{path}: {response.text[:300]}"
        assert media_type(response) == "application/vnd.sdmx.structure+xml;version=2.1"
        assert list(sdmx.read_sdmx(io.BytesIO(response.content)).dataflow) == ["DF_SSE_OBS"], path
    parents = requests.get(gw.url("/sdmx/codelist/SSE/CL_OBS_STATUS/latest?references=parents"), timeout=30)
    assert list(sdmx.read_sdmx(io.BytesIO(parents.content)).structure) == ["DSD_SSE_OBS"]


def test_sdmx1_data_with_a_partial_key_and_a_period_are_the_api_figures(gw, client, ipb, indicators):  # noqa: F811
    msg = client.data("DF_SSE_OBS", key="land-restored..great-green-wall.", params={"startPeriod": "2010"})
    assert msg.response.url == f"{gw.base}/sdmx/data/DF_SSE_OBS/land-restored..great-green-wall.?startPeriod=2010"
    assert media_type(msg.response) == SPECIFIC_MEDIA_TYPE
    expected = api_figures(
        ipb, indicators, "indicators/land-restored", 'initiative = "initiatives/great-green-wall" AND period_end >= 2010-01-01'
    )
    assert len(expected) == 3, "the Great Green Wall's two reports and its target"
    assert pandas_figures(msg) == expected
    attributes = sdmx.to_pandas(msg, attributes="o")
    assert set(attributes["UNIT_MEASURE"]) == {"ha"}

    # A key as a dict: sdmx1 reads the structure first (dataflow?references=all) to check it.
    with warnings_as_errors():
        by_dict = client.data(
            "DF_SSE_OBS",
            key={"INDICATOR": ["land-restored", "workers"], "OBS_STATUS": "A"},
            params={"startPeriod": "2015", "endPeriod": "2022"},
        )
    assert "/data/DF_SSE_OBS/land-restored+workers...A." in by_dict.response.url
    expected = {}
    for indicator in ("land-restored", "workers"):
        expected |= api_figures(
            ipb,
            indicators,
            f"indicators/{indicator}",
            "status = REPORTED AND period_end >= 2015-01-01 AND period_start <= 2022-12-31",
        )
    assert expected and {key[0] for key in expected} == {"land-restored", "workers"}
    assert pandas_figures(by_dict) == expected


def test_generic_data_sdmx_json_and_csv_and_all_dimensions_at_the_observation_read_as_the_same_figures(
    gw, client, ipb, indicators  # noqa: F811
):
    key, params = "workers+territories....", {"startPeriod": "2016"}
    specific = pandas_figures(client.data("DF_SSE_OBS", key=key, params=params))
    expected = {}
    for indicator in ("workers", "territories"):
        expected |= api_figures(ipb, indicators, f"indicators/{indicator}", "period_end >= 2016-01-01")
    assert specific == expected

    generic = client.data("DF_SSE_OBS", key=key, params=params, headers={"Accept": GENERIC_MEDIA_TYPE})
    assert media_type(generic.response) == GENERIC_MEDIA_TYPE
    assert pandas_figures(generic) == expected
    as_json = client.data("DF_SSE_OBS", key=key, params=params, headers={"Accept": JSON1_MEDIA_TYPE})
    assert media_type(as_json.response) == JSON1_MEDIA_TYPE
    assert pandas_figures(as_json) == expected
    assert pandas_attribute(as_json, "SOURCE_TITLE") == pandas_attribute(generic, "SOURCE_TITLE")
    assert set(pandas_attribute(as_json, "UNIT_MEASURE").values()) == {"{people}", "{territories}"}, "the units of workers and territories"

    # Observations with every dimension: sdmx1 tells attributes from dimensions by the structure,
    # which it reads first when the key is a dict.
    flat = client.data(
        "DF_SSE_OBS",
        key={"INDICATOR": ["workers", "territories"]},
        params={**params, "dimensionAtObservation": "AllDimensions"},
    )
    assert "dimensionAtObservation=AllDimensions" in flat.response.url
    assert pandas_figures(flat) == expected

    dataflow = client.dataflow("DF_SSE_OBS").dataflow["DF_SSE_OBS"]
    as_csv = requests.get(gw.url(f"/sdmx/data/DF_SSE_OBS/{key}"), params=params, headers={"Accept": CSV_MEDIA_TYPE}, timeout=30)
    assert media_type(as_csv) == CSV_MEDIA_TYPE
    csv_figures = {key: value for key, (value, _) in sdmx_rows(read_csv(as_csv.content, dataflow)).items()}
    assert csv_figures == expected
    csv1 = requests.get(gw.url(f"/sdmx/data/DF_SSE_OBS/{key}"), params={**params, "format": "csvfile"}, timeout=30)
    assert media_type(csv1) == "application/vnd.sdmx.data+csv;version=1.0.0"
    assert csv1.text.split("\n")[0].startswith("DATAFLOW,INDICATOR,REF_AREA,")
    assert len(csv1.text.strip().split("\n")) == len(expected) + 1


def test_first_and_last_observations_detail_and_series_keys(gw, client, ipb, indicators):  # noqa: F811
    everything = api_figures(ipb, indicators, "indicators/-")
    series = {}
    for key in everything:
        series.setdefault(key[:5], []).append(key[5])

    last = pandas_figures(client.data("DF_SSE_OBS", params={"lastNObservations": 1}))
    assert {key[:5]: key[5] for key in last} == {k: max(periods) for k, periods in series.items()}
    first = pandas_figures(client.data("DF_SSE_OBS", params={"firstNObservations": 1}))
    assert {key[:5]: key[5] for key in first} == {k: min(periods) for k, periods in series.items()}

    keys = client.series_keys("DF_SSE_OBS")
    assert len(keys) == len(series)
    data_only = requests.get(gw.url("/sdmx/data/DF_SSE_OBS/all"), params={"detail": "dataonly"}, timeout=30)
    assert data_only.status_code == 200 and "UNIT_MEASURE" not in data_only.text


def test_errors_are_sdmx_error_messages_with_their_codes_and_statuses(gw, client):  # noqa: F811
    cases = [
        ("/sdmx/data/DF_NOPE/all", {}, {}, 404, "100"),
        ("/sdmx/data/DF_SSE_OBS/no-such-indicator....", {}, {}, 404, "100"),
        ("/sdmx/data/DF_SSE_OBS/all/ECB", {}, {}, 404, "100"),
        ("/sdmx/dataflow/SSE/DF_NOPE/latest", {}, {}, 404, "100"),
        ("/sdmx/dataflow/ECB/DF_SSE_OBS/latest", {}, {}, 404, "100"),
        ("/sdmx/categoryscheme/all/all/latest", {}, {}, 404, "100"),
        ("/sdmx/data/DF_SSE_OBS/a.b.c.d.e.f", {}, {}, 400, "140"),
        ("/sdmx/data/DF_SSE_OBS/all", {"startPeriod": "soon"}, {}, 400, "140"),
        ("/sdmx/data/DF_SSE_OBS/all", {"lastNObservations": "-1"}, {}, 400, "140"),
        ("/sdmx/dataflow/SSE/DF_SSE_OBS/latest", {"references": "everything"}, {}, 400, "140"),
        ("/sdmx/data/DF_SSE_OBS/all", {"dimensionAtObservation": "COLOUR"}, {}, 403, "150"),
        ("/sdmx/data/DF_SSE_OBS/all", {}, {"Accept": "image/png"}, 406, "406"),
        ("/sdmx/data/DF_SSE_OBS/all", {"format": "json", "lastNObservations": "1"}, {}, 501, "501"),
    ]
    for path, params, headers, status, code in cases:
        response = requests.get(gw.url(path), params=params, headers=headers, timeout=30)
        assert (response.status_code, sdmx_error(response)) == (status, code), f"{path} {params} {headers}"
    with pytest.raises(requests.HTTPError) as raised:
        client.dataflow("DF_NOPE")
    assert raised.value.response.status_code == 404


def test_sdmx_3_data_paths_select_what_the_21_paths_select(gw, client, ipb, indicators):  # noqa: F811
    """SDMX 3.0's data paths (`/data/{context}/{agency}/{id}/{version}/{key}`, `*` wildcards,
    several keys joined by `,`, `c[…]` filters, `c[TIME_PERIOD]=ge:…+le:…`) select the same figures
    as the 2.1 query they translate into, and answer SDMX-JSON 2.0 when no format is asked for."""
    dataflow = client.dataflow("DF_SSE_OBS").dataflow["DF_SSE_OBS"]

    def csv_figures(path, params=None):
        response = requests.get(gw.url(path), params=params or {}, headers={"Accept": CSV_MEDIA_TYPE}, timeout=30)
        assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:300]}"
        assert media_type(response) == CSV_MEDIA_TYPE
        return {key: value for key, (value, _) in sdmx_rows(read_csv(response.content, dataflow)).items()}

    expected = csv_figures("/sdmx/data/DF_SSE_OBS/workers+territories....", {"startPeriod": "2016", "endPeriod": "2022"})
    assert expected, "the seed has figures of workers and territories from 2016"
    period = {"c[TIME_PERIOD]": "ge:2016+le:2022"}
    for path, params in [
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/workers,territories", period),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0.0/workers.*,territories.*.*", period),
        ("/sdmx/data/dataflow/*/*/+/*", {**period, "c[INDICATOR]": "workers,eq:territories"}),
        ("/sdmx/data/datastructure/SSE/DSD_SSE_OBS/~", {**period, "c[INDICATOR]": "workers,territories"}),
    ]:
        assert csv_figures(path, params) == expected, f"{path} {params}"
    assert csv_figures("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/*") == csv_figures("/sdmx/data/DF_SSE_OBS/all")

    as_json = requests.get(gw.url("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/workers"), timeout=30)
    assert as_json.status_code == 200
    assert media_type(as_json) == "application/vnd.sdmx.data+json;version=2.0.0"
    assert as_json.json()["data"]["dataSets"], "an SDMX-JSON 2.0 data message"

    for path, params, status, code in [
        ("/sdmx/data/dataflow/SSE/DF_NOPE/1.0/*", {}, 404, "100"),
        ("/sdmx/data/provisionagreement/SSE/DF_SSE_OBS/1.0/*", {}, 404, "100"),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/workers", {"c[INDICATOR]": "territories"}, 404, "100"),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/workers+territories", {}, 400, "140"),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/*", {"startPeriod": "2016"}, 400, "140"),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/workers.FR,territories.SN", {}, 501, "501"),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/*", {"c[OBS_VALUE]": "ge:10"}, 501, "501"),
        ("/sdmx/data/dataflow/SSE/DF_SSE_OBS/1.0/*", {"c[TIME_PERIOD]": "gt:2016"}, 501, "501"),
    ]:
        response = requests.get(gw.url(path), params=params, timeout=30)
        assert (response.status_code, sdmx_error(response)) == (status, code), f"{path} {params}"
