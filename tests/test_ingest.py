"""Mail in, tickets out, through the real CLI (`maildesk ingest`, `tickets`, `quarantine`),
on SQLite and PostgreSQL: threading, participants, strangers, automated mail, dedupe."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from maildesk.config import load_config
from maildesk.core.msgid import make_message_id
from maildesk.pipeline.ingest import open_runtime
from tests.conftest import Install, opened

SECRET = b"test-secret-key"


def mail(
    *,
    sender: str = "Alice <alice@customer.example>",
    to: str = "support@example.com",
    cc: str | None = None,
    subject: str = "Printer on fire",
    body: str = "It is really on fire.",
    message_id: str | None = "<m1@customer.example>",
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def show(desk: Install, number: str) -> dict[str, Any]:
    return desk.json("tickets", "show", number)


def test_new_mail_opens_a_ticket_with_everything_recorded(desk: Install) -> None:
    raw = mail(cc="Bob <bob@customer.example>", attachments=[("log.txt", "text/plain", b"x" * 10)])
    [line] = desk.ingest(raw)
    assert line == {
        "source": "stdin",
        "action": "created",
        "ticket": "SUP-00001",
        "message_id": "<m1@customer.example>",
        "reason": "no matching ticket",
    }
    ticket = show(desk, "SUP-00001")
    assert ticket["subject"] == "Printer on fire"
    assert ticket["status"] == "new"
    assert ticket["priority"] == "medium"
    assert ticket["requester"] == {"email": "alice@customer.example", "name": "Alice"}
    assert ticket["cc"] == ["bob@customer.example"]
    [message] = ticket["messages"]
    assert message["direction"] == "inbound" and message["kind"] == "customer"
    assert message["from"] == "alice@customer.example"
    assert message["body_text"].strip() == "It is really on fire."
    [attachment] = message["attachments"]
    assert attachment["filename"] == "log.txt" and attachment["size"] == 10
    assert len(attachment["sha256"]) == 64
    types = [e["type"] for e in ticket["events"]]
    assert types[0] == "created" and "message_added" in types and "cc_added" in types
    assert ticket["created_at"].endswith("+00:00")


def test_replies_thread_by_tag_and_by_message_id(desk: Install) -> None:
    desk.ingest(mail())
    by_tag = mail(subject="RE: AW: Fwd: [sup-1] Printer on fire", message_id="<m2@c.example>")
    by_id = mail(
        subject="no tag here", message_id="<m3@c.example>", in_reply_to="<m1@customer.example>"
    )
    lines = desk.ingest(by_tag, by_id)
    assert [(x["action"], x["ticket"]) for x in lines] == [
        ("appended", "SUP-00001"),
        ("appended", "SUP-00001"),
    ]
    assert len(show(desk, "1")["messages"]) == 3


def test_cc_participant_may_reply_but_stranger_gets_own_ticket(desk: Install) -> None:
    desk.ingest(mail(cc="bob@customer.example"))
    [bob] = desk.ingest(
        mail(sender="bob@customer.example", subject="Re: [SUP-00001] x", message_id="<b@c.example>")
    )
    [mallory] = desk.ingest(
        mail(
            sender="mallory@evil.example",
            subject="Re: [SUP-00001] x",
            message_id="<e@evil.example>",
        )
    )
    assert (bob["action"], bob["ticket"]) == ("appended", "SUP-00001")
    assert (mallory["action"], mallory["ticket"]) == ("created", "SUP-00002")
    assert "not a participant" in mallory["reason"]
    stranger = show(desk, "SUP-00002")
    noted = [e for e in stranger["events"] if e["type"] == "reference_not_trusted"]
    assert noted and noted[0]["data"]["referenced"] == ["SUP-00001"]
    assert stranger["subject"] == "Re: x"  # our tag is not carried into the new ticket
    assert len(show(desk, "SUP-00001")["messages"]) == 2


def test_signed_message_id_threads_any_sender(desk: Install) -> None:
    desk.ingest(mail())
    ours = make_message_id("SUP-00001", 1, SECRET, "example.com")
    [line] = desk.ingest(
        mail(
            sender="forwarded@other.example",
            subject="fwd",
            message_id="<f@o.example>",
            in_reply_to=ours,
        )
    )
    assert (line["action"], line["ticket"]) == ("appended", "SUP-00001")
    assert "signed Message-ID" in line["reason"]


def test_forged_signature_is_not_trusted(desk: Install) -> None:
    desk.ingest(mail())
    forged = make_message_id("SUP-00001", 1, b"wrong key", "example.com")
    [line] = desk.ingest(
        mail(sender="m@evil.example", subject="x", message_id="<z@e.example>", in_reply_to=forged)
    )
    assert line["action"] == "created"


def test_tag_of_missing_ticket_or_other_prefix_opens_new_ticket(desk: Install) -> None:
    lines = desk.ingest(
        mail(subject="Re: [SUP-00999] old", message_id="<a@x.example>"),
        mail(subject="Re: [ABC-00001] elsewhere", message_id="<b@x.example>"),
    )
    assert [(x["action"], x["ticket"]) for x in lines] == [
        ("created", "SUP-00001"),
        ("created", "SUP-00002"),
    ]


def test_redelivery_is_stored_once(desk: Install) -> None:
    raw = mail()
    no_id = mail(message_id=None, subject="no id")
    lines = desk.ingest(raw, raw, no_id, no_id)
    assert [x["action"] for x in lines] == ["created", "duplicate", "created", "duplicate"]
    assert lines[1]["ticket"] == "SUP-00001" and lines[3]["ticket"] == "SUP-00002"
    assert len(desk.json("tickets", "list")) == 2
    assert len(show(desk, "1")["messages"]) == 1


def test_a_runtime_reports_a_redelivery_in_a_unit_of_work_of_its_own(desk: Install) -> None:
    """`Runtime.ingest` names its database for each step, the duplicate's report too,
    so a caller outside any unit of work (a script, a bench) gets the outcome."""
    runtime = open_runtime(load_config(desk.config_path))
    try:
        raw = mail()
        first = runtime.ingest(raw, source="test")
        again = runtime.ingest(raw, source="test")
    finally:
        runtime.close()
    assert (first.action, again.action) == ("created", "duplicate")
    assert again.ticket == first.ticket == "SUP-00001"


def test_reused_message_id_with_another_body_is_not_dropped(desk: Install) -> None:
    first = mail(body="first message")
    reused = mail(body="a different message, same Message-ID")
    resent = b"Received: from relay2.example by mx.example; Mon, 1 Jan 2026\r\n" + first
    lines = desk.ingest(first, reused, resent)
    assert [(x["action"], x["ticket"]) for x in lines] == [
        ("created", "SUP-00001"),
        ("created", "SUP-00002"),
        ("duplicate", "SUP-00001"),
    ]
    assert show(desk, "2")["messages"][0]["body_text"].strip().startswith("a different")


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "auto_reply"},
    ],
)
def test_auto_replies_without_ticket_are_ignored_but_kept(desk: Install, headers: dict) -> None:
    [line] = desk.ingest(mail(subject="Out of office", headers=headers))
    assert line["action"] == "ignored" and line["ticket"] is None
    assert desk.json("tickets", "list") == []
    # Stored all the same: the same message again is a duplicate, not new.
    assert desk.ingest(mail(subject="Out of office", headers=headers))[0]["action"] == "duplicate"


def test_auto_reply_to_a_ticket_is_appended_without_reopening(desk: Install) -> None:
    desk.ingest(mail())
    [line] = desk.ingest(
        mail(
            subject="Automatic reply: [SUP-00001] Printer",
            message_id="<ooo@c.example>",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert (line["action"], line["ticket"]) == ("appended", "SUP-00001")
    ticket = show(desk, "1")
    assert ticket["messages"][1]["mail_kind"] == "auto_reply"
    assert ticket["status"] == "new"


def test_list_mail_opens_an_automated_ticket(desk: Install) -> None:
    [line] = desk.ingest(mail(subject="Newsletter", headers={"List-Id": "<news.x.example>"}))
    assert line["action"] == "created"
    ticket = show(desk, line["ticket"])
    assert ticket["automated"] is True
    assert ticket["messages"][0]["mail_kind"] == "bulk"


def test_mail_from_our_own_address_is_ignored(desk: Install) -> None:
    [line] = desk.ingest(mail(sender="Support <SUPPORT@example.com>"))
    assert line["action"] == "ignored" and "own address" in line["reason"]


def test_no_sender_goes_to_quarantine_and_retry_reports_again(desk: Install) -> None:
    raw = b"Subject: nobody\r\nMessage-ID: <q@x>\r\n\r\nbody\r\n"
    [line] = desk.ingest(raw)
    assert line["action"] == "quarantined" and "no sender" in line["reason"]
    [entry] = desk.json("quarantine", "list")
    assert entry["message_id"] == "<q@x>" and "Unprocessable" in entry["traceback"]
    result = desk.run("quarantine", "retry", str(entry["id"]))
    assert result.exit_code == 1  # still failing: nothing was fixed
    assert desk.json("quarantine", "list")[0]["attempts"] == 2


def test_quarantine_retry_succeeds_after_the_fix(desk: Install, monkeypatch: pytest.MonkeyPatch):
    import maildesk.pipeline.flow as pipeline

    def broken(raw: bytes) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(pipeline, "parse_message", broken)
    [first] = desk.ingest(mail(message_id="<one@c.example>"))
    [second] = desk.ingest(mail(message_id="<two@c.example>", in_reply_to="<one@c.example>"))
    assert first["action"] == second["action"] == "quarantined"
    assert "parser bug" in first["reason"]
    monkeypatch.undo()  # the fix is deployed
    result = desk.run("quarantine", "retry", "--all", "--json")
    assert result.exit_code == 0, result.output
    actions = [json.loads(x)["action"] for x in result.stdout.splitlines()]
    assert actions == ["created", "appended"]
    assert desk.json("quarantine", "list") == []


def test_quarantine_discard_sets_junk_aside_and_it_can_still_be_retried(desk: Install) -> None:
    junk = [b"Subject: junk %d\r\nMessage-ID: <j%d@x>\r\n\r\nbody\r\n" % (n, n) for n in range(3)]
    for raw in junk:
        desk.ingest(raw)  # no sender at all: quarantined
    first, second, third = desk.json("quarantine", "list")
    assert {e["state"] for e in (first, second, third)} == {"open"}
    assert first["discarded_at"] is None and first["resolved_at"] is None

    assert desk.run("quarantine", "discard").exit_code == 2  # an ID or --all
    missing = desk.run("quarantine", "discard", "999")
    assert missing.exit_code == 1 and "999" in missing.stderr
    done = desk.run("quarantine", "discard", str(first["id"]), "--json")
    assert done.exit_code == 0, done.output
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["id"] == first["id"] and line["state"] == "discarded"
    assert [e["id"] for e in desk.json("quarantine", "list")] == [second["id"], third["id"]]
    listed = {e["id"]: e for e in desk.json("quarantine", "list", "--all")}
    assert listed[first["id"]]["state"] == "discarded"
    assert listed[first["id"]]["discarded_at"] == line["discarded_at"] is not None
    assert listed[first["id"]]["error"] == first["error"]  # kept as it was
    text = desk.run("quarantine", "list", "--all").stdout
    assert f"[discarded {line['discarded_at']}]" in text
    assert desk.run("quarantine", "discard", str(first["id"])).exit_code == 1  # not open

    # `retry --all` takes the open entries only; a discarded one is retried by its ID.
    retried = desk.run("quarantine", "retry", "--all", "--json")
    assert sorted(json.loads(x)["id"] for x in retried.stdout.splitlines()) == [
        second["id"],
        third["id"],
    ]
    again = desk.run("quarantine", "retry", str(first["id"]), "--json")
    assert json.loads(again.stdout)["action"] == "quarantined"  # still junk: open again
    assert first["id"] in [e["id"] for e in desk.json("quarantine", "list")]

    all_done = desk.run("quarantine", "discard", "--all")
    assert all_done.exit_code == 0 and all_done.stdout.count("discarded") == 3
    assert desk.json("quarantine", "list") == []
    assert {e["state"] for e in desk.json("quarantine", "list", "--all")} == {"discarded"}


def test_a_discarded_message_retried_after_the_fix_becomes_a_ticket(
    desk: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    import maildesk.pipeline.flow as pipeline

    def broken(raw: bytes) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(pipeline, "parse_message", broken)
    desk.ingest(mail())
    monkeypatch.undo()
    [entry] = desk.json("quarantine", "list")
    assert desk.run("quarantine", "discard", "--all").exit_code == 0
    result = desk.run("quarantine", "retry", str(entry["id"]), "--json")
    assert json.loads(result.stdout)["action"] == "created"
    [resolved] = desk.json("quarantine", "list", "--all")
    assert resolved["state"] == "resolved" and resolved["resolved_at"] is not None
    assert resolved["discarded_at"] is None
    assert len(desk.json("tickets", "list")) == 1


def test_customer_reply_reopens_resolved_ticket(desk: Install) -> None:
    from maildesk.store.models import Ticket

    desk.ingest(mail())
    with opened(desk.database_url):
        Ticket.update(status="resolved").where(Ticket.number == 1).execute()
    [line] = desk.ingest(mail(subject="Re: [SUP-00001] still broken", message_id="<r@c.example>"))
    assert line["action"] == "appended"
    ticket = show(desk, "1")
    assert ticket["status"] == "open"
    assert any(e["type"] == "reopened" for e in ticket["events"])


def test_tickets_list_filters(desk: Install) -> None:
    desk.ingest(
        mail(),
        mail(
            sender="zoe@z.example",
            subject="Invoice question",
            message_id="<z@z.example>",
            body="about my invoice 4711",
        ),
    )
    assert [t["number"] for t in desk.json("tickets", "list", "--search", "4711")] == ["SUP-00002"]
    assert [t["number"] for t in desk.json("tickets", "list", "--search", "Printer")] == [
        "SUP-00001"
    ]
    assert len(desk.json("tickets", "list", "--status", "new")) == 2
    assert desk.json("tickets", "list", "--status", "open") == []
    assert len(desk.json("tickets", "list", "--assignee", "none")) == 2
    bad = desk.run("tickets", "list", "--priority", "extreme")
    assert bad.exit_code == 2 and "one of low, medium, high, urgent" in bad.stderr


def test_ingest_directory_maildir_and_mbox(desk: Install, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.eml").write_bytes(mail(message_id="<d1@x.example>"))
    (folder / "b.eml").write_bytes(mail(message_id="<d2@x.example>", subject="other"))
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.host").write_bytes(mail(message_id="<md@x.example>", subject="md"))
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(
        b"From alice@x Mon Jan  1 00:00:00 2026\n"
        + mail(message_id="<mb1@x.example>", subject="m1")
        + b"\nFrom alice@x Mon Jan  1 00:00:01 2026\n"
        + mail(message_id="<mb2@x.example>", subject="m2")
    )
    result = desk.run("ingest", "--json", str(folder), str(maildir), str(mbox))
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["message_id"] for x in lines] == [
        "<d1@x.example>",
        "<d2@x.example>",
        "<md@x.example>",
        "<mb1@x.example>",
        "<mb2@x.example>",
    ]
    assert lines[3]["source"].endswith("archive.mbox#1")


def test_ingest_reports_unreadable_sources_and_exits_1(desk: Install, tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(mail())
    result = desk.run("ingest", "--json", str(tmp_path / "missing.eml"), str(good))
    assert result.exit_code == 1
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert lines[0]["action"] == "error" and "no such file" in lines[0]["reason"]
    assert lines[1]["action"] == "created"  # one bad source does not stop the others


def test_oversized_input_is_refused_not_truncated(tmp_path: Path, database_url: str) -> None:
    from tests.conftest import write_config

    desk = Install(
        write_config(tmp_path, database_url, "[smtp]\nmax_message_size = 1000\n"),
        database_url,
        tmp_path,
    )
    result = desk.run("ingest", "--json", "-", input=mail(body="x" * 5000))
    assert result.exit_code == 1
    assert "larger than the limit" in json.loads(result.stdout)["reason"]
    assert desk.json("tickets", "list") == []


def test_message_stored_but_never_processed_is_processed_on_redelivery(desk: Install) -> None:
    """A crash between the raw commit and the pipeline leaves the message pending:
    delivering it again processes it instead of calling it a duplicate."""
    import datetime as dt

    from maildesk.inbound.intake import accept
    from maildesk.store.db import open_database, upgrade

    db = open_database(desk.database_url)
    upgrade(db)
    accept(db, mail(), source="crashed", now=dt.datetime.now(dt.UTC))
    db.close()
    lines = desk.ingest(mail(), mail())
    assert [(x["action"], x["ticket"]) for x in lines] == [
        ("created", "SUP-00001"),
        ("duplicate", "SUP-00001"),
    ]


def test_one_batch_with_the_same_message_twice_stores_it_once(
    desk: Install, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "1.eml").write_bytes(mail())
    (folder / "2.eml").write_bytes(mail())
    (folder / "3.eml").write_bytes(b"Subject: no sender\r\n\r\nx\r\n")
    (folder / "4.eml").write_bytes(mail(message_id="<other@c.example>", subject="other"))
    result = desk.run("ingest", "--json", str(folder))
    assert result.exit_code == 0, result.output
    actions = [json.loads(x)["action"] for x in result.stdout.splitlines()]
    assert actions == ["created", "duplicate", "quarantined", "created"]
