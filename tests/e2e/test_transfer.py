"""`observatory import` and `export` from the built binary, as a partner runs them: a CSV of
initiatives imported into a running observatory with `--server` and `--api-key` (refused without
a key), plain progress lines on a pipe, the row-numbered report of a dry run, and the export
read back."""

import csv
import io
import os
import subprocess
from pathlib import Path

from conftest import ADMIN_KEY, REPO

PARTNER_CSV = """\
display_name,legal_form,countries,sdg_goals,start_date,website,sources
Coopérative des Tisserands de Thiès,COOPERATIVE,SN,8;5,2012,https://tisserands.example.sn,"[{""title"":""Registre national des coopératives"",""url"":""https://example.sn/registre""}]"
"Mutuelle de santé ""And Suxali"", Dakar",MUTUAL,SN,3,2015-06,,
Groupement de femmes de Ndiaganiao,INFORMAL_GROUP,SN,5;1,2019-03-08,,
"""

INVALID_CSV = """\
display_name,legal_form,countries
Bonne ligne,COOPERATIVE,SN
Mauvaise forme,COOP,SN
,ASSOCIATION,XX
"""


def observatory(*args, env_extra=None, stdin=None) -> subprocess.CompletedProcess:
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    env = {name: value for name, value in os.environ.items() if not name.startswith(("OBSERVATORY_", "SSE_"))}
    env.pop("DATABASE_URL", None)
    env.update(NO_COLOR="1", OBSERVATORY_LOG_FILTER="warn")
    env.update(env_extra or {})
    return subprocess.run(
        [str(binary), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def make_key(server, scopes: str) -> str:
    data_dir = next(arg.split("=", 1)[1] for arg in server.process.args if arg.startswith("--data-dir="))
    made = observatory("keys", "create", "--display-name", "Registre du Sénégal", "--scopes", scopes, f"--data-dir={data_dir}")
    assert made.returncode == 0, made.stderr
    import json

    return json.loads(made.stdout.splitlines()[0])["key"]


def test_a_partner_imports_a_csv_into_a_running_observatory_with_progress_lines(server, tmp_path):
    url = f"http://{server.target}"
    file = tmp_path / "partner.csv"
    file.write_text(PARTNER_CSV, encoding="utf-8")

    refused = observatory("import", "initiatives", str(file), "--server", url)
    assert refused.returncode != 0
    assert "Unauthenticated" in refused.stderr, refused.stderr

    key = make_key(server, "initiatives.write")
    imported = observatory("import", "initiatives", str(file), "--server", url, "--api-key", key)
    assert imported.returncode == 0, imported.stderr
    # Not a terminal: plain lines, one per batch, then the summary.
    lines = imported.stderr.splitlines()
    assert "import initiatives: 3 rows read: 3 created, 0 unchanged, 0 invalid" in lines, lines
    assert any(
        line.startswith("import initiatives: 3 rows: 3 created, 0 unchanged, 0 invalid in ") for line in lines
    ), lines
    assert "\r" not in imported.stderr and "\x1b[" not in imported.stderr

    # Again, with the key from the environment: nothing new.
    again = observatory("import", "initiatives", str(file), "--server", url, env_extra={"SSE_API_KEY": key})
    assert again.returncode == 0, again.stderr
    assert "0 created, 3 unchanged, 0 invalid" in again.stderr

    exported = observatory("export", "initiatives", "--server", url, "--api-key", ADMIN_KEY)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    by_title = {row["display_name"]: row for row in rows}
    weavers = by_title["Coopérative des Tisserands de Thiès"]
    assert weavers["name"].startswith("initiatives/cooperative-des-tisserands-de-thies-")
    assert weavers["sdg_goals"] == "8;5" and weavers["legal_form"] == "COOPERATIVE"
    assert '"Registre national des coopératives"' in weavers["sources"]
    assert by_title['Mutuelle de santé "And Suxali", Dakar']["start_date"] == "2015-06"
    assert "create_time" not in rows[0]


def test_a_dry_run_reports_every_invalid_row_and_writes_nothing(server, tmp_path):
    url = f"http://{server.target}"
    file = tmp_path / "invalid.csv"
    file.write_text(INVALID_CSV, encoding="utf-8")
    key = make_key(server, "initiatives.write")
    before = observatory("export", "initiatives", "--server", url).stdout

    dry = observatory("import", "initiatives", str(file), "--server", url, "--api-key", key, "--dry-run")
    assert dry.returncode == 1
    lines = dry.stderr.splitlines()
    assert any(line.startswith("row 3: legal_form: `COOP` is not one of COOPERATIVE") for line in lines), lines
    assert "row 4: display_name: is required" in lines, lines
    assert any(line.startswith("row 4: countries[0]: `XX`") for line in lines), lines
    assert any("1 to create, 0 unchanged, 2 invalid" in line and "dry run, nothing written" in line for line in lines)
    assert observatory("export", "initiatives", "--server", url).stdout == before

    # --on-error skip writes the valid row; stop (the default) writes nothing of the batch.
    stopped = observatory("import", "initiatives", str(file), "--server", url, "--api-key", key)
    assert stopped.returncode == 1 and "stopped at row 3" in stopped.stderr, stopped.stderr
    assert observatory("export", "initiatives", "--server", url).stdout == before
    skipped = observatory("import", "initiatives", "-", "--format", "csv", "--on-error", "skip",
                          "--server", url, "--api-key", key, stdin=INVALID_CSV)
    assert skipped.returncode == 1
    assert "1 created, 0 unchanged, 2 invalid" in skipped.stderr, skipped.stderr
    assert "Bonne ligne" in observatory("export", "initiatives", "--server", url).stdout
