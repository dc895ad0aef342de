"""The project's own promises: README's two commands are what CI runs, the code is
lint-clean, and the pure core is typed and free of IO imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "maildesk" / "core"
# What the pure core must not import (a name, or any module under it): storage, network,
# servers, templates, processes and the event loop. It takes plain values and returns
# decisions; the listeners, the pipeline and the workers do the IO.
IO_MODULES = frozenset(
    {
        "aiosmtpd",
        "aiosmtplib",
        "asyncio",
        "ftplib",
        "http",
        "imaplib",
        "imapclient",
        "jinja2",
        "multiprocessing",
        "peewee",
        "playhouse",
        "poplib",
        "psycopg",
        "psycopg2",
        "requests",
        "selectors",
        "smtplib",
        "socket",
        "socketserver",
        "sqlite3",
        "ssl",
        "starlette",
        "subprocess",
        "urllib.request",
        "uvicorn",
    }
)
# The core's own imports stay inside it: the rest of the package does IO.
FIRST_PARTY = "maildesk"
CORE_PACKAGE = "maildesk.core"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/run" in readme and "./scripts/test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^(exec )?scripts/test\b", ci, re.M), ci
    for script in ("scripts/run", "scripts/test", "scripts/setup", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an `import` statement anywhere in `tree` names (inside functions and
    `if TYPE_CHECKING:` blocks too), with its line: `import a.b` gives a.b, `from a import
    b` gives a and a.b (b may be a module). Relative imports are left out (the core's
    are within the core)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def forbidden_in_core(module: str) -> str | None:
    """The IO module (or the package outside the core) that `module` is, or is under."""
    for banned in IO_MODULES:
        if module == banned or module.startswith(banned + "."):
            return banned
    top = module.split(".")[0]
    if top == FIRST_PARTY and not (module + ".").startswith(CORE_PACKAGE + "."):
        return module
    return None


def core_import_violations(root: Path) -> list[str]:
    """`path:line imports module` for each forbidden import in any .py file under `root`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for line, module in imported_modules(tree):
            if forbidden_in_core(module) is not None:
                found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return found


def test_core_imports_no_io() -> None:
    """Every module under maildesk/core/, at any depth (core/message/ included)."""
    assert len(list(CORE.rglob("*.py"))) > len(list(CORE.glob("*.py")))  # subpackages seen
    assert core_import_violations(CORE) == []


def test_the_core_import_check_sees_every_form(tmp_path: Path) -> None:
    """The check itself: nested files, imports inside functions, `from` forms, dotted
    names and relatives; and it lets through what the core legitimately uses."""
    nested = tmp_path / "core" / "message" / "deep"
    nested.mkdir(parents=True)
    (nested / "bad.py").write_text(
        "import re\n"
        "import email.utils\n"
        "from collections.abc import Mapping\n"
        "from maildesk.core.message.values import Address\n"
        "from . import sibling\n"
        "def f() -> None:\n"
        "    import socket\n"
        "    from urllib import request\n"
        "    import http.client\n"
        "    from peewee import Model\n"
        "    import asyncio as aio\n"
        "    from maildesk.store import models\n"
        "    import urllib.parse\n"
    )
    found = core_import_violations(tmp_path)
    shown = [line.split(":", 1)[1] for line in found]
    assert shown == [
        "7 imports socket",
        "8 imports urllib.request",
        "9 imports http.client",
        "10 imports peewee",
        "10 imports peewee.Model",
        "11 imports asyncio",
        "12 imports maildesk.store",
        "12 imports maildesk.store.models",
    ]


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


# -- the rooms: what the README's "Where things are" promises -------------------------

PACKAGE = ROOT / "maildesk"
LOOSE_MODULES = {"__init__.py", "__main__.py", "cli.py", "config.py"}
# The services the desk (tickets/desk.py) holds: built once, passed in, never borrowed
# through another part.
DESK_SERVICES = frozenset(
    {"mailer", "sla", "policies", "automation", "escalation", "renderer", "secret"}
)


def test_the_package_has_no_loose_modules_beyond_the_entry_points() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == LOOSE_MODULES, sorted(loose - LOOSE_MODULES)


def test_every_folder_of_the_package_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Where things are") :]
    table = table[: table.index("\n## ")]
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders and all(f"`{name}/`" in table for name in folders), folders


def test_nothing_reaches_through_the_pipeline_for_a_service() -> None:
    """`x.pipeline.mailer` and the like: the desk's services come from the desk."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in DESK_SERVICES
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "pipeline"
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
