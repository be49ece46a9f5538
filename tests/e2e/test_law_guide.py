"""End-to-end tests of the law guide (`sse.lawguide.v1.LawGuideService`) inside
`observatory serve`, driven over gRPC by a client generated from proto/.

Each test gets a fresh server seeded with the 26 legal texts of
services/law-guide/seed/legal_texts.yaml (see conftest.py)."""

import importlib

import grpc
import pytest
from google.protobuf import descriptor_pb2, field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from test_observatory import DOMAIN, error_details, rpc_error

SERVICE = "sse.lawguide.v1.LawGuideService"
SEEDED_COUNT = 26
TZCLD_LAWS = {"legalTexts/fr-loi-2016-231", "legalTexts/fr-loi-2020-1577"}


@pytest.fixture(scope="session")
def lpb(pb):
    """The generated modules `law_guide_pb2` and `law_guide_pb2_grpc` (the `pb` fixture has
    generated every package under proto/ and put them on sys.path)."""
    pb2 = importlib.import_module("sse.lawguide.v1.law_guide_pb2")
    pb2_grpc = importlib.import_module("sse.lawguide.v1.law_guide_pb2_grpc")
    return pb2, pb2_grpc


@pytest.fixture
def law_guide(lpb, channel):
    """A LawGuideService client."""
    return lpb[1].LawGuideServiceStub(channel)


def ids(legal_texts):
    return [text.name.removeprefix("legalTexts/") for text in legal_texts]


def search(lpb, law_guide, query, **request):
    return law_guide.SearchLegalTexts(lpb[0].SearchLegalTextsRequest(query=query, **request))


def ranked(lpb, law_guide, query, **request):
    results = search(lpb, law_guide, query, **request).results
    return [result.legal_text.name.removeprefix("legalTexts/") for result in results]


def new_text(lpb, **fields):
    """A valid legal text, as a partner would send it, with `fields` changed."""
    m = lpb[0]
    values = dict(
        jurisdiction="CA-QC",
        level=m.LegalText.LEVEL_REGIONAL,
        kind=m.LegalText.KIND_REGULATION,
        number="RLRQ c. E-1.1.1, r. 1",
        title="Règlement d'essai sur les coopératives de travail",
        title_en="Test regulation on worker cooperatives",
        language="fr",
        status=m.LegalText.STATUS_DRAFT,
        topics=[m.TOPIC_ENTITY_TYPES],
        summary="A regulation written by the end-to-end suite.",
        provisions=[
            m.Provision(
                number="art. 1",
                heading="Objet",
                text="Les coopératives de travail tiennent un registre de leurs membres.",
                topics=[m.TOPIC_REGISTRY],
            )
        ],
        relations=[
            m.LegalTextRelation(
                type=m.LegalTextRelation.TYPE_IMPLEMENTS,
                legal_text="legalTexts/ca-qc-loi-economie-sociale-2013",
            )
        ],
    )
    values.update(fields)
    return m.LegalText(**values)


def test_health_and_reflection_serve_the_law_guide(lpb, channel):
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    info = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)
    (containing,) = list(info(iter([request]), timeout=10))
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in containing.file_descriptor_response.file_descriptor_proto
    ]
    defining = [file for file in files if any(service.name == "LawGuideService" for service in file.service)]
    assert [file.name for file in defining] == ["sse/lawguide/v1/law_guide.proto"]
    served = {method.name for method in defining[0].service[0].method}
    assert served == {method.name for method in lpb[0].DESCRIPTOR.services_by_name["LawGuideService"].methods}


def test_every_seeded_text_is_listed_and_filters_select_them(lpb, law_guide):
    m = lpb[0]
    reply = law_guide.ListLegalTexts(m.ListLegalTextsRequest(page_size=1000))
    assert reply.total_size == SEEDED_COUNT and len(reply.legal_texts) == SEEDED_COUNT
    assert all(not provision.official_text for text in reply.legal_texts for provision in text.provisions)
    cases = {
        'jurisdiction = "FR"': {"fr-loi-2014-856", "fr-loi-2016-231", "fr-loi-2020-1577"},
        "topics:PUBLIC_PROCUREMENT": {"eu-council-recommendation-2023-11-27", "fr-loi-2014-856", "oecd-legal-0472"},
        "topics:TOPIC_TAX_INCENTIVES": {"eu-council-recommendation-2023-11-27", "it-dlgs-117-2017"},
        "level = REGIONAL": {"be-wal-decret-2008-economie-sociale", "ca-qc-loi-economie-sociale-2013"},
        "status = REPEALED": {"gr-law-4019-2011"},
        "adoption_date >= 2024": {"br-lei-15068-2024"},
    }
    for filter, expected in cases.items():
        reply = law_guide.ListLegalTexts(m.ListLegalTextsRequest(filter=filter, page_size=1000))
        assert set(ids(reply.legal_texts)) == expected, filter


def test_the_tzcld_initiative_and_its_laws_point_at_each_other(pb, lpb, initiatives, law_guide):
    tzcld = initiatives.GetInitiative(pb.initiatives_pb2.GetInitiativeRequest(name="initiatives/tzcld")).initiative
    assert set(tzcld.related_legal_texts) == TZCLD_LAWS
    for name in TZCLD_LAWS:
        text = law_guide.GetLegalText(lpb[0].GetLegalTextRequest(name=name)).legal_text
        assert list(text.related_initiatives) == ["initiatives/tzcld"]
    reply = law_guide.ListLegalTexts(lpb[0].ListLegalTextsRequest(filter='related_initiatives:"initiatives/tzcld"'))
    assert {text.name for text in reply.legal_texts} == TZCLD_LAWS
    later = law_guide.GetLegalText(lpb[0].GetLegalTextRequest(name="legalTexts/fr-loi-2020-1577")).legal_text
    assert [(relation.type, relation.legal_text) for relation in later.relations] == [
        (lpb[0].LegalTextRelation.TYPE_AMENDS, "legalTexts/fr-loi-2016-231")
    ]


@pytest.mark.parametrize(
    ("query", "language", "expected_first"),
    [
        ("economia social", "", "pt-lei-30-2013"),
        ("economía solidaria", "es", "co-ley-454-1998"),
        ("coopératives", "fr", "ca-qc-loi-economie-sociale-2013"),
        ("conta satélite", "pt", "pt-lei-30-2013"),
        ("terzo settore", "it", "it-dlgs-117-2017"),
        ("public procurement", "en", "eu-council-recommendation-2023-11-27"),
        ("zero chomeur", "", "fr-loi-2020-1577"),
    ],
)
def test_search_ranks_the_seed_across_languages_and_accents(lpb, law_guide, query, language, expected_first):
    results = ranked(lpb, law_guide, query, language=language)
    assert results[0] == expected_first, results


def test_search_folds_plurals_and_names_the_matching_provision(lpb, law_guide):
    m = lpb[0]
    reply = search(lpb, law_guide, "cofradía de pescador", language="es")
    first = reply.results[0]
    assert first.legal_text.name == "legalTexts/es-ley-5-2011"
    assert first.score > 0
    snippet = first.snippets[0]
    assert snippet.section == m.Snippet.SECTION_PROVISION
    assert snippet.provision_number == "art. 5"
    assert "<em>cofradías</em> de <em>pescadores</em>" in snippet.text

    french = ranked(lpb, law_guide, "coopérative", language="fr", filter='language = "fr"')
    assert {"be-wal-decret-2008-economie-sociale", "ca-qc-loi-economie-sociale-2013", "fr-loi-2014-856"} <= set(french)


def test_search_pages_walk_the_ranking_once(lpb, law_guide):
    m = lpb[0]
    everything = ranked(lpb, law_guide, "social economy", page_size=1000)
    seen, token = [], ""
    while True:
        request = m.SearchLegalTextsRequest(query="social economy", page_size=5, page_token=token)
        reply = law_guide.SearchLegalTexts(request)
        assert reply.total_size == len(everything)
        seen += [result.legal_text.name.removeprefix("legalTexts/") for result in reply.results]
        token = reply.next_page_token
        if not token:
            break
    assert seen == everything


def test_the_matrix_names_texts_and_provisions(lpb, law_guide):
    m = lpb[0]
    reply = law_guide.CompareJurisdictions(
        m.CompareJurisdictionsRequest(
            topics=[m.TOPIC_PUBLIC_PROCUREMENT, m.TOPIC_TAX_INCENTIVES],
            jurisdictions=["FR", "IT", "DE"],
        )
    )
    assert list(reply.topics) == [m.TOPIC_PUBLIC_PROCUREMENT, m.TOPIC_TAX_INCENTIVES]
    assert [row.jurisdiction for row in reply.rows] == ["FR", "IT", "DE"]
    france, italy, germany = reply.rows
    (procurement,) = france.cells[0].legal_texts
    assert procurement.legal_text == "legalTexts/fr-loi-2014-856"
    assert [provision.number for provision in procurement.provisions] == ["art. 13"]
    assert not france.cells[1].legal_texts
    assert [text.legal_text for text in italy.cells[1].legal_texts] == ["legalTexts/it-dlgs-117-2017"]
    assert all(not cell.legal_texts for cell in germany.cells)


def test_updates_and_deletes_keep_every_earlier_state(lpb, law_guide):
    m = lpb[0]
    create = m.CreateLegalTextRequest(
        legal_text=new_text(lpb), legal_text_id="ca-qc-reglement-essai", request_id="e2e-law-1"
    )
    created = law_guide.CreateLegalText(create).legal_text
    retried = law_guide.CreateLegalText(create).legal_text
    assert retried == created

    patch = m.LegalText(name=created.name, status=m.LegalText.STATUS_IN_FORCE, etag=created.etag)
    updated = law_guide.UpdateLegalText(
        m.UpdateLegalTextRequest(legal_text=patch, update_mask=field_mask_pb2.FieldMask(paths=["status"]))
    ).legal_text
    assert updated.status == m.LegalText.STATUS_IN_FORCE and updated.etag != created.etag

    error = rpc_error(
        law_guide.UpdateLegalText,
        m.UpdateLegalTextRequest(legal_text=patch, update_mask=field_mask_pb2.FieldMask(paths=["status"])),
    )
    assert error.code() == grpc.StatusCode.ABORTED
    info, _ = error_details(error)
    assert (info.reason, info.domain) == ("ETAG_MISMATCH", DOMAIN)

    deleted = law_guide.DeleteLegalText(m.DeleteLegalTextRequest(name=created.name, etag=updated.etag)).revision
    assert deleted.change == m.LegalTextRevision.CHANGE_DELETE
    gone = rpc_error(law_guide.GetLegalText, m.GetLegalTextRequest(name=created.name))
    assert gone.code() == grpc.StatusCode.NOT_FOUND

    history = law_guide.ListLegalTextRevisions(m.ListLegalTextRevisionsRequest(parent=created.name)).revisions
    assert [revision.revision_id for revision in history] == ["2", "1"]
    assert [revision.change for revision in history] == [
        m.LegalTextRevision.CHANGE_DELETE,
        m.LegalTextRevision.CHANGE_UPDATE,
    ]
    assert history[0].legal_text == updated
    assert history[1].legal_text == created


def test_bad_input_names_every_field(lpb, law_guide):
    m = lpb[0]
    invalid = new_text(lpb, jurisdiction="FR", language="french", title="")
    invalid.provisions.append(m.Provision(number="art. 1"))
    error = rpc_error(law_guide.CreateLegalText, m.CreateLegalTextRequest(legal_text=invalid, legal_text_id="Bad Id"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = error_details(error)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", DOMAIN)
    assert sorted(violation.field for violation in bad_request.field_violations) == [
        "legal_text.language",
        "legal_text.level",
        "legal_text.provisions[1].heading",
        "legal_text.provisions[1].number",
        "legal_text.title",
        "legal_text_id",
    ]
    reply = law_guide.ListLegalTexts(m.ListLegalTextsRequest(page_size=1000))
    assert reply.total_size == SEEDED_COUNT, "nothing written"

    error = rpc_error(law_guide.SearchLegalTexts, m.SearchLegalTextsRequest(query="economia", filter="topics:BAKERY"))
    info, bad_request = error_details(error)
    assert info.reason == "INVALID_FILTER"
    assert [violation.field for violation in bad_request.field_violations] == ["filter"]
    error = rpc_error(law_guide.CompareJurisdictions, m.CompareJurisdictionsRequest(jurisdictions=["XX"]))
    _, bad_request = error_details(error)
    assert sorted(violation.field for violation in bad_request.field_violations) == ["jurisdictions[0]", "topics"]
