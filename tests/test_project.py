"""The project's own promises: README's two commands are what CI runs, the code is
lint-clean, and the pure core is typed and free of IO imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IO_MODULES = {
    "peewee",
    "playhouse",
    "aiosmtpd",
    "starlette",
    "jinja2",
    "socket",
    "smtplib",
    "imapclient",
    "sqlite3",
    "psycopg",
    "uvicorn",
}


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/run" in readme and "./scripts/test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^(exec )?scripts/test\b", ci, re.M), ci
    for script in ("scripts/run", "scripts/test", "scripts/setup", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_core_imports_no_io() -> None:
    for path in (ROOT / "maildesk" / "core").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in IO_MODULES, f"{path.name} imports {name}"


def test_ruff_is_clean() -> None:
    paths = [p for p in ("maildesk", "tests", "bench") if (ROOT / p).is_dir()]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    """The whole package type-checks (pyproject.toml: strict but for migrations)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "maildesk"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
