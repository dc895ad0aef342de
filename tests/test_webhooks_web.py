"""Webhooks on /admin/webhooks and in the API (/api/webhooks): an admin adds an endpoint
pointing at a real receiver on loopback, sees its secret once, sends a test the
receiver verifies with it; private addresses refused; a config endpoint kept; failed
deliveries retried by hand; other roles, missing CSRF tokens and foreign tokens
refused. Through the real app on SQLite and PostgreSQL; API answers checked against
the schemas /api/openapi.json publishes."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from maildesk.events import deliveries, fanout, hooks, worker
from maildesk.events.deliveries import Result
from maildesk.events.targets import Pins, Targets
from maildesk.store.models import Webhook, WebhookDelivery
from maildesk.tickets import agents
from tests.api_support import check_answer, described, model_validator
from tests.conversation import customer_mail
from tests.receiver import WAIT, Received, Receiver
from tests.web_support import Site, site

PAGE = "/admin/webhooks"
LOOPBACK = '[webhooks]\nallowed_networks = ["127.0.0.0/8"]\n'
CONFIG_HOOK = """
[[webhook]]
name = "crm"
url = "https://hooks.example.com/crm"
events = ["ticket.sla.breached"]
secret_env = "HOOK_SECRET"
"""
SECRET = re.compile(r'id="new-secret">(whsec_[^<]+)<')
PRIVATE = (
    "http://127.0.0.1:9/hooks",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/hooks",
    "http://[::1]:9/hooks",
)


@contextmanager
def desk_site(root: Path, database_url: str, extra: str) -> Iterator[Site]:
    """The web view with a [[webhook]] (synced as the daemon does at start), an admin,
    an agent and a manager."""
    with site(root, database_url, extra=extra + CONFIG_HOOK) as running:
        hooks.sync_config(running.runtime.db, running.web.config.webhook, running.runtime.clock())
        running.add_agent("ada@example.com", "Ada", "admin")
        running.add_agent("ann@example.com", "Ann")
        running.add_agent("mia@example.com", "Mia", "manager")
        yield running


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with desk_site(tmp_path, database_url, LOOPBACK) as running:
        yield running


@pytest.fixture
def strict(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """No network allowed: every private address refused."""
    with desk_site(tmp_path, database_url, "") as running:
        yield running


def bearer(s: Site, email: str) -> dict[str, str]:
    token = agents.create_token(s.runtime.db, email, "test", s.runtime.clock())
    return {"Authorization": f"Bearer {token}"}


def config_id() -> int:
    return int(Webhook.get(Webhook.key == "config:crm").id)


def session_text(s: Site) -> str:
    """What the signed session cookie holds, decoded."""
    cookie = s.client.cookies.get("session", "") or ""
    payload = cookie.split(".", 1)[0]
    return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace")


def send_due(s: Site, expected: int) -> list[Result]:
    """What the daemon's webhook worker does, by its pieces: the cursor's passes and
    the claims until `expected` deliveries are due (on PostgreSQL an event is seen
    once every older transaction of its database has ended), each signed POST, the
    results recorded."""
    db, config = s.runtime.db, s.web.config.webhooks
    claimed: list[deliveries.Claimed] = []
    deadline = time.monotonic() + WAIT
    while True:
        fanout.fan_out(db, s.web.desks, s.web.desk.fields, s.runtime.clock())
        claimed += deliveries.claim_due(db, s.runtime.clock(), 100, config)
        if len(claimed) >= expected:
            break
        assert time.monotonic() < deadline, f"{len(claimed)} of {expected} deliveries due"
        time.sleep(0.05)
    endpoints = {e.id: e for e in hooks.active(db)}

    async def post_all() -> list[Result]:
        results = []
        async with worker.client(config) as http:
            for row in claimed:
                endpoint = endpoints[row.webhook_id]
                answer = await worker.post(
                    http, endpoint.url, endpoint.key({}), row.msg_id, row.body,
                    Pins(Targets.of(config.allowed_networks)),
                )  # fmt: skip
                results.append(Result(row.id, answer.outcome, answer.status, answer.detail))
        return results

    results = asyncio.run(post_all())
    deliveries.record(db, results, s.runtime.clock(), config)
    return results


def state_of(delivery_id: int) -> str:
    return str(WebhookDelivery.get_by_id(delivery_id).state)


# -- the page -------------------------------------------------------------------------------


def test_an_admin_adds_an_endpoint_sees_its_secret_once_and_tests_it(web: Site) -> None:
    web.sign_in("ada@example.com")
    page = web.client.get(PAGE)
    assert page.status_code == 200
    assert "from maildesk.toml" in page.text and "hooks.example.com/crm" in page.text
    assert 'href="/admin/webhooks"' in web.client.get("/").text  # in the navigation
    with Receiver() as receiver:
        added = web.post(
            f"{PAGE}/add",
            {"url": receiver.url, "event": ["ticket.created", "ticket.closed"]},
            form_page=PAGE,
        )
        assert added.status_code == 200, added.text
        found = SECRET.search(added.text)
        assert found, added.text
        secret = found.group(1)
        row = Webhook.get(Webhook.url == receiver.url)
        assert row.origin == "admin" and row.events == ["ticket.created", "ticket.closed"]
        assert row.created_by == "ada@example.com" and not row.internal
        again = web.client.get(PAGE).text
        assert receiver.url in again and secret not in again  # shown once
        assert secret not in session_text(web) and "whsec_" not in session_text(web)

        tested = web.post(f"{PAGE}/test", {"id": str(row.id)}, form_page=PAGE)
        assert tested.status_code == 200 and "HTTP 200" in tested.text
        [request] = receiver.wait_for(1)
        document = request.verify(secret)
        assert document["type"] == "webhook.test" and document["data"]["webhook"] == row.id
        assert secret not in tested.text

        removed = web.post(f"{PAGE}/remove", {"id": str(row.id)}, form_page=PAGE)
        assert removed.status_code == 303
        after = web.client.get(PAGE).text
        assert f"Removed webhook #{row.id}" in after and f"<code>{receiver.url}</code>" not in after
        assert not Webhook.get_by_id(row.id).active
        assert web.post(f"{PAGE}/test", {"id": str(row.id)}, PAGE).status_code == 404


def test_a_refusing_receiver_shows_on_the_test(web: Site) -> None:
    web.sign_in("ada@example.com")
    with Receiver(lambda request, attempt: (403, 0.0)) as receiver:
        added = web.post(f"{PAGE}/add", {"url": receiver.url, "event": "*"}, PAGE)
        row = Webhook.get(Webhook.url == receiver.url)
        assert row.events == ["*"] and SECRET.search(added.text)
        tested = web.post(f"{PAGE}/test", {"id": str(row.id)}, PAGE)
        assert tested.status_code == 200
        assert "HTTP 403" in tested.text and "not delivered" in tested.text
        receiver.wait_for(1)


def test_bad_forms_are_shown_with_what_was_typed(web: Site) -> None:
    web.sign_in("ada@example.com")
    for fields, problem in (
        ({"url": "ftp://example.com/x", "event": "*"}, "http:// or https://"),
        ({"url": "https://u:p@example.com/", "event": "*"}, "password"),
        ({"url": "http://127.0.0.1:9/", "event": "ticket.nope"}, "unknown event"),
        ({"url": "http://127.0.0.1:9/"}, "at least one event"),
        ({"url": "http://127.0.0.1:9/", "event": "*", "desk": "nope"}, "no desk"),
    ):
        answer = web.post(f"{PAGE}/add", fields, PAGE)
        assert answer.status_code == 422, fields
        assert problem in answer.text, (fields, answer.text)
        assert not SECRET.search(answer.text)
    assert Webhook.select().where(Webhook.origin == "admin").count() == 0


@pytest.mark.parametrize("url", PRIVATE)
def test_private_addresses_are_refused_on_the_page_and_in_the_api(strict: Site, url: str) -> None:
    strict.sign_in("ada@example.com")
    answer = strict.post(f"{PAGE}/add", {"url": url, "event": "*"}, PAGE)
    assert answer.status_code == 422
    assert "private or reserved" in answer.text and "[webhooks] allowed_networks" in answer.text
    api = strict.client.post(
        "/api/webhooks", json={"url": url}, headers=bearer(strict, "ada@example.com")
    )
    assert api.status_code == 422, api.text
    assert "allowed_networks" in api.json()["errors"][0]
    assert Webhook.select().where(Webhook.origin == "admin").count() == 0


def test_the_metadata_address_stays_refused_when_loopback_is_allowed(web: Site) -> None:
    web.sign_in("ada@example.com")
    for url in PRIVATE[1:3]:
        assert web.post(f"{PAGE}/add", {"url": url, "event": "*"}, PAGE).status_code == 422
        api = web.client.post(
            "/api/webhooks", json={"url": url}, headers=bearer(web, "ada@example.com")
        )
        assert api.status_code == 422
    assert Webhook.select().where(Webhook.origin == "admin").count() == 0


def test_a_config_endpoint_is_listed_but_not_removed(web: Site) -> None:
    web.sign_in("ada@example.com")
    hook_id = config_id()
    page = web.client.get(PAGE).text
    assert (
        f'name="id" value="{hook_id}">\n        <button type="submit" class="secondary">Remove'
        not in page
    )
    refused = web.post(f"{PAGE}/remove", {"id": str(hook_id)}, PAGE)
    assert refused.status_code == 409 and "maildesk.toml" in refused.text
    assert web.post(f"{PAGE}/remove", {"id": "99999"}, PAGE).status_code == 404
    assert web.post(f"{PAGE}/remove", {"id": "x"}, PAGE).status_code == 400
    # its secret is in the daemon's environment, which this site does not have
    tested = web.post(f"{PAGE}/test", {"id": str(hook_id)}, PAGE)
    assert tested.status_code == 422 and "$HOOK_SECRET is unset" in tested.text

    headers = bearer(web, "ada@example.com")
    api = web.client.delete(f"/api/webhooks/{hook_id}", headers=headers)
    assert api.status_code == 409 and "maildesk.toml" in api.json()["error"]
    assert web.client.delete("/api/webhooks/99999", headers=headers).status_code == 404
    assert web.client.delete(f"/api/webhooks/{2**40}", headers=headers).status_code == 404
    assert Webhook.get_by_id(hook_id).active


# -- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["ann@example.com", "mia@example.com"])
def test_agents_and_managers_are_refused_everywhere(web: Site, email: str) -> None:
    hook_id = config_id()
    web.sign_in(email)
    assert "/admin/webhooks" not in web.client.get("/").text
    for path in (PAGE, f"{PAGE}/deliveries"):
        assert web.client.get(path).status_code == 403, path
    # their own, valid form token: still not theirs to use
    for path, fields in (
        ("add", {"url": "http://127.0.0.1:9/", "event": "*"}),
        ("remove", {"id": str(hook_id)}),
        ("test", {"id": str(hook_id)}),
        ("retry", {"id": "all"}),
    ):
        assert web.post(f"{PAGE}/{path}", fields).status_code == 403, path
    headers = bearer(web, email)
    for method, path, body in (
        ("GET", "/api/webhooks", None),
        ("POST", "/api/webhooks", {"url": "http://127.0.0.1:9/"}),
        ("DELETE", f"/api/webhooks/{hook_id}", None),
        ("POST", f"/api/webhooks/{hook_id}/test", None),
        ("GET", "/api/webhooks/deliveries", None),
        ("POST", "/api/webhooks/deliveries/1/retry", None),
        ("POST", "/api/webhooks/deliveries/retry", None),
    ):
        answer = web.client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 403, (method, path)
        assert "admin" in answer.json()["error"]
    assert Webhook.select().count() == 1 and Webhook.get_by_id(hook_id).active


def test_posts_without_the_sessions_own_form_token_are_refused(web: Site) -> None:
    stranger = web.another_browser()
    stranger.sign_in("ann@example.com")
    foreign = stranger.csrf("/")  # a live token, of another session
    web.sign_in("ada@example.com")
    for fields in ({}, {"csrf": ""}, {"csrf": foreign}):
        answer = web.client.post(
            f"{PAGE}/add",
            data={**fields, "url": "http://127.0.0.1:9/", "event": "*"},
            follow_redirects=False,
        )
        assert answer.status_code == 403, fields
    hook_id = config_id()
    for path in ("test", "retry"):
        answer = web.client.post(
            f"{PAGE}/{path}", data={"csrf": foreign, "id": str(hook_id)}, follow_redirects=False
        )
        assert answer.status_code == 403
    signed_out = web.another_browser()
    assert signed_out.client.get(PAGE, follow_redirects=False).status_code == 303
    assert Webhook.select().count() == 1
    # the API: no token, a made-up one, a revoked one
    token = agents.create_token(web.runtime.db, "ada@example.com", "t", web.runtime.clock())
    [row] = agents.list_tokens()
    agents.revoke_token(web.runtime.db, row.id, web.runtime.clock())
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {token}"}):
        assert web.client.get("/api/webhooks", headers=headers).status_code == 401


# -- the API --------------------------------------------------------------------------------


def test_the_api_adds_lists_tests_and_removes_as_its_description_says(web: Site) -> None:
    document = described(web)
    headers = bearer(web, "ada@example.com")
    listed = check_answer(
        document, "/api/webhooks", "get", web.client.get("/api/webhooks", headers=headers)
    )
    [crm] = listed["webhooks"]
    assert crm["origin"] == "config" and crm["name"] == "crm" and crm["secret_env"] == "HOOK_SECRET"
    new = model_validator(document, "NewWebhook")
    with Receiver() as receiver:
        body = {"url": receiver.url, "events": ["ticket.closed"], "internal": True}
        assert new.is_valid(body)
        answer = web.client.post("/api/webhooks", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        made = check_answer(document, "/api/webhooks", "post", answer)
        secret = made["secret"]
        assert made["events"] == ["ticket.closed"] and made["internal"] is True
        assert made["origin"] == "admin" and made["created_by"] == "ada@example.com"
        again = web.client.get("/api/webhooks", headers=headers).json()["webhooks"]
        assert [h["id"] for h in again] == [crm["id"], made["id"]]
        assert secret not in str(again)

        path = "/api/webhooks/{webhook_id}/test"
        tested = web.client.post(f"/api/webhooks/{made['id']}/test", headers=headers)
        result = check_answer(document, path, "post", tested)
        assert result["delivered"] is True and result["status"] == 200
        [request] = receiver.wait_for(1)
        assert request.verify(secret)["type"] == "webhook.test"
        unset = web.client.post(f"/api/webhooks/{crm['id']}/test", headers=headers)
        assert unset.status_code == 422 and "HOOK_SECRET" in unset.json()["error"]

        removed = web.client.delete(f"/api/webhooks/{made['id']}", headers=headers)
        assert check_answer(document, "/api/webhooks/{webhook_id}", "delete", removed) == {
            "removed": made["id"]
        }
        assert web.client.delete(f"/api/webhooks/{made['id']}", headers=headers).status_code == 404
        gone = web.client.post(f"/api/webhooks/{made['id']}/test", headers=headers)
        assert gone.status_code == 404
    assert len(receiver.snapshot()) == 1


def test_the_api_refuses_bad_bodies(web: Site) -> None:
    document = described(web)
    new = model_validator(document, "NewWebhook")
    headers = bearer(web, "ada@example.com")
    for body in ({}, {"url": 5}, {"url": "http://127.0.0.1:9/", "events": []},
                 {"url": "http://127.0.0.1:9/", "events": "*"},
                 {"url": "http://127.0.0.1:9/", "secret": "whsec_x"}):  # fmt: skip
        assert not new.is_valid(body), body
        assert web.client.post("/api/webhooks", json=body, headers=headers).status_code == 400
    for body, problem in (
        ({"url": "http://127.0.0.1:9/", "events": ["ticket.nope"]}, "events: unknown event"),
        ({"url": "http://127.0.0.1:9/", "desk": "nope"}, "desk: no desk"),
        ({"url": "gopher://127.0.0.1/"}, "url: must be an http"),
    ):
        answer = web.client.post("/api/webhooks", json=body, headers=headers)
        assert answer.status_code == 422 and problem in answer.json()["error"], answer.text
    assert Webhook.select().count() == 1
    unknown = web.client.get("/api/webhooks/deliveries?sort=id", headers=headers)
    assert unknown.status_code == 400
    assert web.client.get("/api/webhooks/deliveries?state=lost", headers=headers).status_code == 400


# -- retrying failed deliveries -------------------------------------------------------------


def test_failed_deliveries_are_retried_from_the_page_and_the_api(web: Site) -> None:
    document = described(web)
    headers = bearer(web, "ada@example.com")
    answers = {"status": 400}

    def answering(request: Received, attempt: int) -> tuple[int, float]:
        return answers["status"], 0.0

    with Receiver(answering) as receiver:
        made = web.client.post(
            "/api/webhooks", json={"url": receiver.url, "events": ["ticket.created"]},
            headers=headers,
        ).json()  # fmt: skip
        assert send_due(web, 0) == []  # the cursor starts at the end of the log
        web.ingest(customer_mail())
        [result] = send_due(web, 1)
        assert result.status == 400 and state_of(result.id) == "failed"
        [first] = receiver.wait_for(1)
        assert first.verify(made["secret"])["type"] == "ticket.created"

        web.sign_in("ada@example.com")
        page = web.client.get(f"{PAGE}/deliveries", params={"state": "failed"})
        assert page.status_code == 200 and "HTTP 400" in page.text and "SUP-00001" in page.text
        listed = web.client.get(PAGE).text
        assert "1 failed" in listed
        answers["status"] = 200
        retried = web.post(f"{PAGE}/retry", {"id": str(result.id)}, PAGE)
        assert retried.status_code == 303 and state_of(result.id) == "pending"
        assert "1 deliveries queued again" in web.client.get(f"{PAGE}/deliveries").text
        [again] = send_due(web, 1)
        assert again.id == result.id and state_of(result.id) == "delivered"
        [_, second] = receiver.wait_for(2)
        assert second.id == first.id and second.body == first.body  # the same event
        assert web.post(f"{PAGE}/retry", {"id": str(result.id)}, PAGE).status_code == 404

        answers["status"] = 400
        web.ingest(customer_mail(subject="Scanner on fire"))
        [failed] = send_due(web, 1)
        assert state_of(failed.id) == "failed"
        path = "/api/webhooks/deliveries"
        query = {"state": "failed", "webhook": made["id"]}
        shown = check_answer(
            document, path, "get", web.client.get(path, params=query, headers=headers)
        )
        assert [d["id"] for d in shown["deliveries"]] == [failed.id]
        assert shown["deliveries"][0]["last_status"] == 400
        answers["status"] = 200
        retry_path = "/api/webhooks/deliveries/{delivery_id}/retry"
        answer = web.client.post(f"/api/webhooks/deliveries/{failed.id}/retry", headers=headers)
        assert check_answer(document, retry_path, "post", answer) == {"retried": 1}
        [sent] = send_due(web, 1)
        assert sent.id == failed.id and state_of(failed.id) == "delivered"
        missing = web.client.post(f"/api/webhooks/deliveries/{failed.id}/retry", headers=headers)
        assert missing.status_code == 404

        # every failed one at once, from the page and from the API
        answers["status"] = 400
        web.ingest(customer_mail(subject="Fax on fire"))
        web.ingest(customer_mail(subject="Phone on fire"))
        assert [state_of(r.id) for r in send_due(web, 2)] == ["failed", "failed"]
        answers["status"] = 200
        assert web.post(f"{PAGE}/retry", {"id": "all"}, PAGE).status_code == 303
        assert "2 deliveries queued again" in web.client.get(f"{PAGE}/deliveries").text
        answers["status"] = 400
        assert [state_of(r.id) for r in send_due(web, 2)] == ["failed", "failed"]
        answers["status"] = 200
        every = web.client.post("/api/webhooks/deliveries/retry", headers=headers)
        assert check_answer(document, "/api/webhooks/deliveries/retry", "post", every) == {
            "retried": 2
        }
        assert [state_of(r.id) for r in send_due(web, 2)] == ["delivered", "delivered"]
    listed = web.client.get("/api/webhooks", headers=headers).json()["webhooks"]
    assert listed[1]["deliveries"] == {"pending": 0, "delivered": 4, "failed": 0}
