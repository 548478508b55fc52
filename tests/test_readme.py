"""The README's "Using it" block, pasted into bash against a live gunicorn: it must not rot."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.settings import PROJECT_ROOT
from tests.servers import running_gunicorn

README = PROJECT_ROOT / "README.md"
# Every curl of the block fails the script on an HTTP error, showing the problem body.
PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body "$@"; }
"""


def using_it_block(text: str) -> str:
    """Return the first shell block under the README's "## Using it" heading."""
    section = text.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```sh\n(.*?)^```$", section, re.DOTALL | re.MULTILINE)
    assert match, "the README's Using it section has no ```sh block"
    return match.group(1)


def test_the_block_is_found_and_has_no_placeholders() -> None:
    block = using_it_block(README.read_text())
    assert "curl" in block and "restore" in block
    assert "<id>" not in block  # `<` is a redirect in a shell


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def token(app: Any) -> str:
    """Make a writer token with the README's own command; return its secret."""
    result = app.test_cli_runner().invoke(args=["tokens", "create", "readme", "--role", "writer"])
    assert result.exit_code == 0, result.output
    return result.output.rstrip("\n").splitlines()[-1]


def test_the_using_it_block_runs_as_written(database_url: str, token: str, tmp_path: Path) -> None:
    if shutil.which("curl") is None and not os.environ.get("CI"):
        pytest.skip("curl is not installed")
    script = tmp_path / "using-it.sh"
    script.write_text(PRELUDE + using_it_block(README.read_text()))
    log = tmp_path / "gunicorn.log"
    with running_gunicorn(database_url, log, workers=1, env={"AUTH_ENABLED": "true"}) as server:
        env = {
            **os.environ,
            "CONFIG_SERVICE": server.url(),
            "TOKEN": token,
            # python3 of this interpreter first, so the block's `python3 -c` surely exists
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        done = subprocess.run(
            ["bash", str(script)], env=env, capture_output=True, text=True, timeout=90
        )
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{server.log_tail()}"
    out = done.stdout
    assert re.search(r'^ETag: "1"\r?$', out, re.MULTILINE)  # the hot read
    assert re.search(r'^HTTP/1\.1 200 .*\n(.*\n)*?ETag: "2"\r?$', out, re.MULTILINE)  # a watch
    assert re.search(r"^HTTP/1\.1 304 ", out, re.MULTILINE)  # the wait ended
    assert re.search(r"^Preference-Applied: wait=5\r?$", out, re.MULTILINE)
    restored = json.loads(out.rstrip("\n").splitlines()[-1])
    assert (restored["version"], restored["config"]) == (3, {"host": "db1"})
