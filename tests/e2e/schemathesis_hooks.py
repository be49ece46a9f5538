"""What schemathesis needs to know of the observatory's contracts that a JSON Schema cannot say,
loaded by `st run` through SCHEMATHESIS_HOOKS (see test_schemathesis.py).

- The string formats /openapi.json names: `page-token` (only a `nextPageToken` the same call
  returned is one, so the generator sends none) and `aip-160-filter` (the README's grammar; the
  generator sends the empty filter, which every list takes; the suite's filter tests cover the
  grammar itself), and the long code lists, whose values the document lists.
- Rules between fields, which JSON Schema cannot state: a day exists in its month, an end comes
  after its start, a legal text's level fits its jurisdiction, `other_scheme` goes with
  SCHEME_OTHER, an API key expires in the future, a provision number is unique within its text,
  a topic given by name and by number is given twice. Valid cases (the ones schemathesis expects
  the server to accept) are brought within these rules; invalid ones are left as generated.
"""

import calendar
import datetime
import re

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.format("page-token", st.just(""))
# Fields differ from one list to the next, and the empty filter is valid for all of them.
schemathesis.openapi.format("aip-160-filter", st.just(""))



@schemathesis.hook
def before_load_schema(context, raw_schema):
    """The long code lists (subdivisions, jurisdictions, areas) are named by `format` where used;
    their values are in the document's schema of that name."""
    for name, schema in raw_schema.get("components", {}).get("schemas", {}).items():
        if name.startswith("sse.codes.") and isinstance(schema.get("enum"), list):
            schemathesis.openapi.format(name, st.sampled_from(schema["enum"]))


ORGANISATIONS = {
    "UN": "LEVEL_INTERNATIONAL", "ILO": "LEVEL_INTERNATIONAL", "OECD": "LEVEL_INTERNATIONAL",
    "UNESCO": "LEVEL_INTERNATIONAL", "FAO": "LEVEL_INTERNATIONAL", "COE": "LEVEL_INTERNATIONAL",
}
SUPRANATIONAL = {"EU", "AU", "MERCOSUR", "CAN", "SICA", "CARICOM", "ECOWAS", "UEMOA", "CEMAC", "OHADA", "SADC",
                 "EAC", "ASEAN"}
TOPICS = ["TOPIC_UNSPECIFIED", "TOPIC_SSE_DEFINITION", "TOPIC_PRINCIPLES", "TOPIC_ENTITY_TYPES", "TOPIC_REGISTRY",
          "TOPIC_LABEL_OR_CERTIFICATION", "TOPIC_PUBLIC_PROCUREMENT", "TOPIC_TAX_INCENTIVES", "TOPIC_FINANCING",
          "TOPIC_GOVERNANCE_BODY", "TOPIC_STATISTICS_OR_SATELLITE_ACCOUNT", "TOPIC_EDUCATION_AND_TRAINING",
          "TOPIC_EMPLOYMENT_AND_INSERTION", "TOPIC_EXPERIMENTATION"]
RELATION_TYPES = ["TYPE_UNSPECIFIED", "TYPE_AMENDS", "TYPE_AMENDED_BY", "TYPE_IMPLEMENTS", "TYPE_IMPLEMENTED_BY"]
PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|\d{2})(?:-(\d{2}))?)?$")


def is_positive(case) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or not meta.generation.mode.is_negative


@schemathesis.hook
def map_case(context, case):
    if not is_positive(case):
        return case
    if isinstance(case.query, dict) and isinstance(case.query.get("topics"), list):
        case.query["topics"] = unique_topics(case.query["topics"])
    if isinstance(case.body, (dict, list)):
        fix(case.body)
    # A batch under `indicators/-` names each observation's indicator; a batch under one
    # indicator leaves it to the batch.
    batch_parent = (case.path_parameters or {}).get("indicator")
    if batch_parent and isinstance(case.body, dict) and isinstance(case.body.get("requests"), list):
        for request in case.body["requests"]:
            if isinstance(request, dict):
                if batch_parent == "-" and not request.get("parent"):
                    request["parent"] = "indicators/green-jobs"
                elif batch_parent != "-":
                    request.pop("parent", None)
    # An update mask that names a required field needs the field in the body; `*` needs them all.
    if isinstance(case.query, dict) and isinstance(case.query.get("updateMask"), str):
        body = case.body if isinstance(case.body, dict) else {}
        kept = [path for path in case.query["updateMask"].split(",")
                if path != "*" and (body.get(path) not in (None, "", [], 0) or path in IGNORED_IN_MASKS)]
        if kept:
            case.query["updateMask"] = ",".join(kept)
        else:
            del case.query["updateMask"]
    return case


IGNORED_IN_MASKS = {"name", "etag", "createTime", "updateTime", "deleteTime"}


def unique_topics(topics):
    seen, kept = set(), []
    for topic in topics:
        number = topic if isinstance(topic, int) else int(topic) if isinstance(topic, str) and topic.isdigit() else None
        name = TOPICS[number] if number is not None and number < len(TOPICS) else topic
        if name not in seen:
            seen.add(name)
            kept.append(topic)
    return kept


def enum_name(value, names):
    return names[value] if isinstance(value, int) and 0 <= value < len(names) else value


def fix(value):
    """Brings every object inside `value` within the rules between its fields."""
    if isinstance(value, list):
        for item in value:
            fix(item)
        return
    if not isinstance(value, dict):
        return
    for item in value.values():
        fix(item)
    fix_partial_date(value)
    if isinstance(value.get("startDate"), dict) and isinstance(value.get("endDate"), dict):
        start, end = value["startDate"], value["endDate"]
        if date_key(end) < date_key(start):
            value["startDate"], value["endDate"] = end, start
    if isinstance(value.get("timePeriod"), str):
        value["timePeriod"] = fixed_period(value["timePeriod"])
    if isinstance(value.get("jurisdiction"), str) and "level" in value:
        value["level"] = level_of(value["jurisdiction"])
    scheme = value.get("scheme")
    if scheme in ("SCHEME_OTHER", 8) and not str(value.get("otherScheme") or "").strip():
        value["otherScheme"] = "other"
    elif scheme not in ("SCHEME_OTHER", 8) and (isinstance(scheme, int) or str(scheme).startswith("SCHEME_")):
        value.pop("otherScheme", None)
    if isinstance(value.get("expireTime"), str):
        value["expireTime"] = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value.get("provisions"), list):
        numbers = set()
        for provision in value["provisions"]:
            if isinstance(provision, dict) and provision.get("number"):
                if provision["number"] in numbers:
                    provision["number"] = ""
                numbers.add(provision["number"])
    for key in ("topics",):
        if isinstance(value.get(key), list):
            value[key] = unique_topics(value[key])
    if isinstance(value.get("relations"), list):
        seen, kept = set(), []
        for relation in value["relations"]:
            key = (enum_name(relation.get("type"), RELATION_TYPES), relation.get("legalText")) if isinstance(
                relation, dict) else repr(relation)
            if key not in seen:
                seen.add(key)
                kept.append(relation)
        value["relations"] = kept


def fix_partial_date(value):
    if not ({"year", "month", "day"} & value.keys()) or not set(value) <= {"year", "month", "day"}:
        return
    year, month, day = (value.get(part) or 0 for part in ("year", "month", "day"))
    if not all(isinstance(part, (int, float)) for part in (year, month, day)):
        return
    if day and not month:
        value["day"] = 0
    elif day and 1 <= month <= 12 and 1 <= year <= 9999:
        value["day"] = min(int(day), calendar.monthrange(int(year), int(month))[1])


def date_key(date):
    return tuple(date.get(part) if isinstance(date.get(part), (int, float)) else 0
                 for part in ("year", "month", "day"))


def fixed_period(text):
    parts = text.split("/")
    fixed = [fixed_single(part) for part in parts]
    if len(fixed) == 2 and fixed[1] < fixed[0]:
        fixed.reverse()
    return "/".join(fixed)


def fixed_single(text):
    match = PERIOD.match(text)
    if not match:
        return text
    year, middle, day = match.groups()
    if middle and not middle.startswith("Q"):
        month = min(max(int(middle), 1), 12)
        middle = f"{month:02}"
        if day:
            last = calendar.monthrange(max(int(year), 1), month)[1]
            day = f"{min(max(int(day), 1), last):02}"
    return year + (f"-{middle}" if middle else "") + (f"-{day}" if day else "")


def level_of(jurisdiction):
    if jurisdiction in ORGANISATIONS:
        return ORGANISATIONS[jurisdiction]
    if jurisdiction in SUPRANATIONAL:
        return "LEVEL_SUPRANATIONAL"
    return "LEVEL_REGIONAL" if "-" in jurisdiction else "LEVEL_NATIONAL"


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """A valid request refused for the state of a resource is not a valid request rejected:
    FAILED_PRECONDITION (creating under a deleted indicator, undeleting what is not deleted) is
    answered 400, as grpc-gateway and Google's APIs map it, and says so in its body."""
    if type(failure).__name__ != "RejectedPositiveData" or response.status_code != 400:
        return True
    try:
        return response.json().get("code") != 9
    except ValueError:
        return True
