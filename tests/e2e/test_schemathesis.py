"""The REST API against its own OpenAPI document, with schemathesis: every operation of
/openapi.json, every check (`--checks all`: no server error, status codes, content types and
bodies as documented, valid requests accepted, invalid ones refused, auth not ignored, deleted
resources gone, ...), on SQLite and on a fresh PostgreSQL database, with an admin key.

The run is bounded (a few examples per operation) and reproducible (`--generation-deterministic`:
the same cases every run, which is what a fixed seed would give, and schemathesis then ignores
`--seed`), so CI stays stable. What no JSON Schema can say (page tokens, the filter grammar, rules
between fields) is taught to the generator in schemathesis_hooks.py, not switched off.

schemathesis.toml says what is configured rather than tested, and why: link inference from field
names (it takes a resource's `name` for the id its REST path wants), and 414/431 counted as the
refusals they are.

Run by hand against a running observatory:

    SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=tests/e2e st --config-file tests/e2e/schemathesis.toml \\
        run http://127.0.0.1:8080/openapi.json --checks all -H "Authorization: Bearer $KEY" \\
        --max-examples 10 --generation-deterministic
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import ADMIN_KEY, REPO, Server, free_port, wait_until_serving
from test_fuzz import postgres_database

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
RUN_TIMEOUT_S = 600
CONFIG = HERE / "schemathesis.toml"


def schemathesis_command() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if found is None:
        pytest.fail("schemathesis (`st`) is not installed: pip install -r tests/e2e/requirements.txt")
    return [found]


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_rest_api_keeps_every_promise_of_its_openapi_document(database):
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    drop = None
    with tempfile.TemporaryDirectory(prefix="observatory-schemathesis-") as workdir:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("OBSERVATORY_") and name != "DATABASE_URL"}
        # Schemathesis calls fast and often: the rate limit is not what is tested here.
        env.update(OBSERVATORY_ADMIN_KEY=ADMIN_KEY, NO_COLOR="1",
                   OBSERVATORY_RATE_LIMIT_PER_SECOND="100000", OBSERVATORY_RATE_LIMIT_BURST="100000")
        if database == "postgres":
            url, drop = postgres_database()
            env["DATABASE_URL"] = url
        target, http_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        command = [str(binary), "serve", f"--grpc-addr={target}", f"--http-addr={http_address}",
                   f"--data-dir={Path(workdir) / 'data'}", f"--metrics-addr=127.0.0.1:{free_port()}"]
        log_path = Path(workdir) / "output.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        server = Server(process=process, target=target, log_path=log_path)
        try:
            wait_until_serving(server)
            base = f"http://{http_address}"
            deadline = time.monotonic() + 15
            while requests.get(f"{base}/openapi.json", timeout=2).status_code != 200:
                assert time.monotonic() < deadline, "the gateway did not serve /openapi.json"
                time.sleep(0.1)
            run_env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                       "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
                       "NO_COLOR": "1"}
            started = time.monotonic()
            run = subprocess.run(
                [*schemathesis_command(), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
                 "--checks", "all", "-H", f"Authorization: Bearer {ADMIN_KEY}",
                 "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic",
                 "--request-timeout", "30", "--no-color"],
                env=run_env, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            elapsed = time.monotonic() - started
            output = run.stdout + run.stderr
            summary = output[output.rfind("SUMMARY"):] if "SUMMARY" in output else output[-3000:]
            print(f"--- schemathesis on {database}, {elapsed:.0f} s ---\n{summary}")
            generated = re.search(r"(\d+) generated", output)
            assert generated and int(generated.group(1)) > 500, f"too few cases:\n{summary}"
            assert run.returncode == 0, f"schemathesis found failures on {database}:\n{output[-20000:]}"
            assert not re.search(r"\d+ failures?\b", summary), summary
            assert re.search(r"(\d+) generated, \1 passed", output), summary
            assert "[500]" not in output and "Server error" not in output, summary
        finally:
            exit_code = server.stop()
            if drop is not None:
                drop()
        assert exit_code == 0, f"observatory exited with {exit_code}\n{server.log()}"
