"""The observatory's text logs when they go to a file, a pipe or a container's log, as an
operator reads them: plain lines, without the terminal's colour escape sequences, even when
nothing (no `NO_COLOR`) asks for that."""

import os
import subprocess
from pathlib import Path

from conftest import REPO


def test_text_logs_on_a_pipe_are_plain_lines(tmp_path):
    binary = Path(os.environ.get("OBSERVATORY_BIN", REPO / "target/debug/observatory"))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OBSERVATORY_", "SSE_")) and name not in ("DATABASE_URL", "NO_COLOR")
    }
    env.update(OBSERVATORY_LOG_FILTER="info", OBSERVATORY_LOG_FORMAT="text")
    database = tmp_path / "logs.sqlite"
    generated = subprocess.run(
        [str(binary), "generate", "--initiatives", "3", "--observations", "0", "--legal-texts", "0"],
        env={**env, "DATABASE_URL": f"sqlite://{database}?mode=rwc"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    lines = generated.stderr.splitlines()
    assert any(" INFO " in line and "generated" in line for line in lines), lines
    assert "\x1b[" not in generated.stderr, generated.stderr[:500]
