"""Reads the three SDMX samples beside this file with sdmx1, as the e2e tests do.

Run: python tests/e2e/sdmx_samples/check_samples.py   (needs `pip install sdmx1==2.28.*`)
It exits non-zero (an assertion or exception) if a sample stops reading cleanly.
"""

import io
import json
import pathlib
import warnings

import sdmx

HERE = pathlib.Path(__file__).parent

DIMS = ["INDICATOR", "REF_AREA", "INITIATIVE", "OBS_STATUS", "SOURCE_ID", "TIME_PERIOD"]
ATTRS = ["UNIT_MEASURE", "SOURCE_TITLE", "SOURCE_URL", "SOURCE_PUBLISHER", "SOURCE_DATE", "COMMENT"]


def read_structure(body: bytes):
    """SDMX-ML 2.1 structure message -> (DSD, dataflow)."""
    msg = sdmx.read_sdmx(io.BytesIO(body))
    return msg.structure["DSD_SSE_OBS"], msg.dataflow["DF_SSE_OBS"]


def read_csv(body: bytes, dataflow):
    """SDMX-CSV 2.0 -> DataMessage. sdmx1 needs the dataflow (or DSD) to read SDMX-CSV."""
    return sdmx.read_sdmx(io.BytesIO(body), format="CSV", structure=dataflow)


def read_json(body: bytes):
    """SDMX-JSON 2.0.0 data message -> DataMessage.

    sdmx1 2.28 reads `meta` (2.0) but looks for the structure and data sets where SDMX-JSON 1.0
    put them (top-level `structure` and `dataSets`); in 2.0.0 they are `data.structures[]` and
    `data.dataSets[]`. Lift them to the top level, then let sdmx1 read everything else.
    """
    tree = json.loads(body)
    assert len(tree["data"]["structures"]) == 1
    tree["structure"] = tree["data"]["structures"][0]
    tree["dataSets"] = tree["data"]["dataSets"]
    return sdmx.read_sdmx(io.BytesIO(json.dumps(tree).encode()))


def rows(msg):
    """{key tuple: (float value, {attribute: value})}, empty attributes dropped."""
    out = {}
    for obs in msg.data[0].obs:
        key = tuple(obs.key[d].value for d in DIMS)
        attrs = {k: v.value for k, v in obs.attached_attribute.items() if v.value not in ("", None)}
        out[key] = (float(obs.value), attrs)
    return out


def main():
    warnings.simplefilter("error")  # any warning from sdmx1 is a failure
    warnings.simplefilter("ignore", ResourceWarning)

    dsd, dataflow = read_structure((HERE / "structure.xml").read_bytes())
    assert [d.id for d in dsd.dimensions] == DIMS
    assert type(dsd.dimensions.get("TIME_PERIOD")).__name__ == "TimeDimension"
    assert [a.id for a in dsd.attributes] == ATTRS
    assert [m.id for m in dsd.measures] == ["OBS_VALUE"]
    assert dataflow.structure is dsd
    cl = dsd.dimensions.get("OBS_STATUS").local_representation.enumerated
    assert [c.id for c in cl] == ["A", "E", "P", "T"]

    csv_msg = read_csv((HERE / "data.csv").read_bytes(), dataflow)
    json_msg = read_json((HERE / "data.json").read_bytes())
    for msg in (csv_msg, json_msg):
        assert len(msg.data) == 1 and msg.data[0].action.name == "information"
        assert [d.id for d in msg.structure.dimensions] == DIMS

    by_csv, by_json = rows(csv_msg), rows(json_msg)
    assert by_csv == by_json, (by_csv, by_json)

    ggw = ("land-restored", "WORLD", "great-green-wall")
    reported = sorted(v for k, (v, _) in by_csv.items() if k[:3] == ggw and k[3] == "A")
    assert reported == [18_000_000.0, 20_000_000.0]
    target = [v for k, (v, _) in by_csv.items() if k[:3] == ggw and k[3] == "T"]
    assert target == [100_000_000.0]
    assert all(k[5] == "2007-01-01/P14Y" for k in by_csv if k[:3] == ggw and k[3] == "A")
    assert any(k[2] == "_Z" for k in by_csv)
    print(f"{len(by_csv)} observations read identically from SDMX-CSV and SDMX-JSON")


if __name__ == "__main__":
    main()
