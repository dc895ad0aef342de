"""GET /api/reports/sla (the document of `maildesk report sla --json`, for admins and
managers, over their desks) and GET /api/docs (the OpenAPI description as a page).

Through the real app and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from markupsafe import escape

from maildesk.store.models import ApiToken
from maildesk.web.middleware import CSP
from tests.api_support import bearer, check_answer, described, two_desks
from tests.web_support import Site

SLA = "/api/reports/sla"


@pytest.fixture
def two(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with two_desks(tmp_path, database_url) as running:
        yield running


def test_the_sla_report_is_the_commands_document(two: Site) -> None:
    document = described(two)
    root = bearer(two, "root@example.com")
    since, until = "2000-01-01T00:00:00+00:00", "2100-01-01T00:00:00+00:00"
    answer = two.client.get(SLA, params={"since": since, "until": until}, headers=root)
    assert answer.status_code == 200, answer.text
    report = check_answer(document, SLA, "get", answer)
    shown = two.cli("report", "sla", "--json", "--since", since, "--until", until)
    assert shown.exit_code == 0, shown.output
    assert report == json.loads(shown.stdout)
    assert report["created"] == 2 and set(report["by_agent"]) >= {"ann@example.com"}

    default = check_answer(document, SLA, "get", two.client.get(SLA, headers=root))
    start, end = (dt.datetime.fromisoformat(default[k]) for k in ("since", "until"))
    assert end - start == dt.timedelta(days=30) and default["created"] == 2
    naive = two.client.get(
        SLA, params={"since": "2000-01-01", "until": "2100-01-01T00:00"}, headers=root
    )
    assert naive.json()["since"] == "2000-01-01T00:00:00+00:00" and naive.json()["created"] == 2
    billing = two.client.get(SLA, params={"since": since, "desk": "billing"}, headers=root).json()
    assert billing["created"] == 1


def test_a_manager_sees_their_desks_and_an_agent_no_report(two: Site) -> None:
    document = described(two)
    mia = bearer(two, "mia@example.com")
    report = check_answer(
        document, SLA, "get", two.client.get(SLA, params={"since": "2000-01-01"}, headers=mia)
    )
    assert report["created"] == 1  # support's ticket only
    assert "bill@example.com" not in report["by_agent"] and "ann@example.com" in report["by_agent"]
    for desk in ("billing", "nowhere"):
        answer = two.client.get(SLA, params={"desk": desk}, headers=mia)
        assert answer.status_code == 400 and "not one of your desks" in answer.json()["error"]
        check_answer(document, SLA, "get", answer)

    for who in ("ann@example.com", "bill@example.com"):
        answer = two.client.get(SLA, headers=bearer(two, who))
        assert answer.status_code == 403 and "admin or a manager" in answer.json()["error"]
        check_answer(document, SLA, "get", answer)
    assert document["paths"][SLA]["get"]["responses"]["403"]["description"]

    revoked = bearer(two, "root@example.com")
    row = ApiToken.select().order_by(ApiToken.id.desc()).get()
    assert two.cli("agents", "tokens", "--revoke", str(row.id)).exit_code == 0
    for headers in ({}, revoked, {"Authorization": "Bearer mdk_" + "y" * 43}):
        answer = two.client.get(SLA, headers=headers)
        assert answer.status_code == 401
        check_answer(document, SLA, "get", answer)


def test_bad_periods_are_named(two: Site) -> None:
    document = described(two)
    root = bearer(two, "root@example.com")
    cases = [
        ({"since": "yesterday"}, "since: not an ISO 8601 time"),
        ({"until": "2026-13-01"}, "until: not an ISO 8601 time"),
        ({"since": "0001-01-01"}, "since: out of range"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "must be before until"),
        ({"since": "2026-01-01", "until": "2026-01-01"}, "must be before until"),
        ({"from": "2026-01-01"}, "unknown parameter 'from'"),
    ]
    for params, words in cases:
        answer = two.client.get(SLA, params=params, headers=root)
        assert answer.status_code == 400, params
        assert words in check_answer(document, SLA, "get", answer)["error"], params


def test_the_docs_page_shows_every_operation_and_schema(two: Site) -> None:
    document = described(two)
    page = two.client.get("/api/docs")  # no token, no session: public as the document
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    html = page.text
    assert all(src.startswith("/static/") for src in re.findall(r'<script[^>]*src="([^"]*)"', html))
    assert len(re.findall(r"<script", html)) == len(
        re.findall(r"<script[^>]*src=", html)
    )  # none inline
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from elsewhere
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f"<code>{method.upper()} {escape(path)}</code>" in html, (method, path)
            assert str(escape(operation["summary"])) in html, (method, path)
            for parameter in operation.get("parameters", []):
                assert f"<code>{parameter['name']}</code>" in html
            for status in operation["responses"]:
                assert f'<td class="num">{status}</td>' in html
            for kind in operation.get("requestBody", {}).get("content", {}):
                assert f"<code>{kind}</code>" in html
    for name, schema in document["components"]["schemas"].items():
        assert f'id="schema-{name}"' in html, name
        for field in schema.get("properties", {}):
            assert f"<code>{field}</code>" in html, (name, field)
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{anchor}"' in html, anchor
    assert 'href="/api/openapi.json"' in html

    two.add_agent("sam@example.com", "Sam")
    assert two.sign_in("sam@example.com").status_code == 303
    assert 'href="/api/docs"' in two.client.get("/").text
