"""The layering contracts of pyproject.toml hold, and breaking one makes `lint-imports` fail.

Each check runs `lint-imports` (import-linter, the same command `make lint` runs) on a
temporary copy of the package: first untouched (every contract kept), then with one
offending import added, which must break exactly the contract that forbids it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src" / "frontdesk",
        tmp_path / "src" / "frontdesk",
        ignore=shutil.ignore_patterns("__pycache__", "*.wav", "static", "templates"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _add_import(module: Path, line: str) -> None:
    text = module.read_text()
    marker = "from __future__ import annotations\n"
    assert marker in text
    module.write_text(text.replace(marker, marker + "\n" + line + "\n", 1))


def test_the_package_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "offending", "contract"),
    [
        ("agent/tools.py", "import frontdesk.edge.server", "agent/ and web/ import nothing"),
        ("web/live.py", "from frontdesk.edge.call import EdgeCall", "agent/ and web/"),
        ("sip/timers.py", "import asyncio", "sip/ and media/ are sans-IO"),
        ("media/rtp.py", "import socket", "sip/ and media/ are sans-IO"),
        ("sip/sdp.py", "from frontdesk.calls import decision", "import no frontdesk module above"),
        ("store/sessions.py", "from frontdesk.web import app", "store/ imports nothing"),
        ("calls/routing.py", "from frontdesk.livekit import answers", "calls/ (the lifecycle)"),
    ],
)
def test_breaking_a_rule_fails_lint_imports(
    tmp_path: Path, module: str, offending: str, contract: str
) -> None:
    project = _copy(tmp_path)
    _add_import(project / "src" / "frontdesk" / module, offending)
    result = _lint(project)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
