"""The same message by another channel is a redelivery (design invariant 2): by SMTP
(CRLF) through the real daemon, then by `maildesk ingest` from an mbox and an .eml
(LF, trace fields, `>From ` quoting, trailing blanks). On SQLite and PostgreSQL,
also for keys stored before the upgrade that changed how they are computed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import peewee

from maildesk.core.message import header_message_id
from maildesk.core.redelivery import dedupe_key
from maildesk.store.db import MIGRATIONS_DIR, open_database, using, write_transaction
from maildesk.store.fields import UTCDateTimeField
from maildesk.store.models import Intake
from tests.conftest import Install, write_config
from tests.conversation import customer_mail
from tests.daemon import Daemon, daemon_config
from tests.test_conversation_daemon import wait_for

BODY = "Hello,\nFrom now on the printer\nis on fire.   \nCarl\n"


def lf_copy(raw: bytes) -> bytes:
    """`raw` as a file or mbox holds it after another route: LF, trace fields on
    top, trailing blanks on some lines."""
    lf = raw.replace(b"\r\n", b"\n")
    trace = (
        b"Return-Path: <carl@customer.test>\n"
        b"Delivered-To: support@example.com\n"
        b"X-Original-To: support@example.com\n"
        b"Received: from mx2.customer.test (mx2.customer.test [192.0.2.7])\n"
        b"\tby mail.example.com with ESMTPS; Mon, 7 Dec 2026 02:00:00 +0000\n"
    )
    return trace + lf.replace(b"Carl\n", b"Carl  \n") + b"\n\n"


def as_mbox(*messages: bytes) -> bytes:
    """An mboxo file: the postmark line, body lines starting with "From " quoted."""
    out = b""
    for raw in messages:
        quoted = b"\n".join(
            b">" + line if line.startswith(b"From ") else line for line in raw.split(b"\n")
        )
        out += b"From carl@customer.test Mon Dec  7 02:00:00 2026\n" + quoted + b"\n"
    return out


def ingest(desk: Install, path: Path) -> list[dict[str, Any]]:
    result = desk.run("ingest", "--json", str(path))
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def acks(desk: Install) -> list[dict[str, Any]]:
    return [row for row in desk.json("outbox", "list") if row["purpose"] == "ack"]


def test_smtp_then_mbox_then_eml_is_one_ticket_and_one_ack(desk: Install, tmp_path: Path) -> None:
    with_id = customer_mail(body=BODY, subject="Printer on fire")
    no_id = customer_mail(body=BODY, subject="No id").replace(b"Message-ID:", b"X-Old-Id:")
    write_config(desk.root, desk.database_url, daemon_config())
    daemon = Daemon(desk.config_path, desk.root).start()
    try:
        with daemon.smtp() as client:
            for raw in (with_id, no_id):
                client.sendmail("carl@customer.test", ["support@example.com"], raw)
        wait_for(lambda: desk.json("tickets", "list"), lambda t: len(t) == 2, "two tickets")
    finally:
        daemon.stop()

    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(as_mbox(lf_copy(with_id), lf_copy(no_id)))
    eml = tmp_path / "copy.eml"
    eml.write_bytes(lf_copy(with_id))
    lines = ingest(desk, mbox) + ingest(desk, eml)
    assert [(x["action"], x["ticket"]) for x in lines] == [
        ("duplicate", "SUP-00001"),
        ("duplicate", "SUP-00002"),
        ("duplicate", "SUP-00001"),
    ]
    assert len(desk.json("tickets", "list")) == 2
    assert len(acks(desk)) == 2

    # Another message that reuses the Message-ID is a message of its own.
    other = tmp_path / "other.eml"
    other.write_bytes(lf_copy(with_id).replace(b"is on fire.", b"is fine now."))
    [line] = ingest(desk, other)
    assert (line["action"], line["ticket"]) == ("created", "SUP-00003")


def legacy_key(raw: bytes, message_id: str | None) -> str:
    """The key as versions before migration 0008 stored it: the Message-ID and the
    body's bytes as received, else the whole raw bytes."""
    digest = hashlib.sha256()
    if not message_id:
        digest.update(b"raw:" + raw)
        return digest.hexdigest()
    digest.update(b"mid:" + message_id.encode() + b"\0")
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    start = min(i for i in (crlf, lf) if i >= 0)
    while raw[start : start + 1] in (b"\r", b"\n"):
        start += 1
    digest.update(hashlib.sha256(raw[start:]).hexdigest().encode())
    return digest.hexdigest()


def store_as_before_0008(db: peewee.Database, raw: bytes, key: str) -> int:
    """A message as intake stored it then: the tables of that version, the old key."""
    sha256 = hashlib.sha256(raw).hexdigest()
    now, p = UTCDateTimeField().db_value(dt.datetime.now(dt.UTC)), db.param
    with write_transaction(db):
        db.execute_sql(
            f'INSERT INTO "blob" (sha256, size, data, created_at) VALUES ({p}, {p}, {p}, {p})',
            (sha256, len(raw), raw, now),
        )
        columns = "raw_id, dedupe_key, message_id, source, envelope_to, received_at, state"
        db.execute_sql(
            f'INSERT INTO "intake" ({columns}) VALUES ({", ".join([p] * 7)})',
            (sha256, key, header_message_id(raw), "smtp:test", "[]", now, "pending"),
        )
        cursor = db.execute_sql('SELECT id FROM "intake" WHERE dedupe_key = ' + p, (key,))
        return int(cursor.fetchone()[0])


def test_keys_stored_before_the_upgrade_still_recognise_redelivery(
    desk: Install, tmp_path: Path
) -> None:
    from playhouse.migrations import Runner

    smtp_copy = customer_mail(body=BODY).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    db = open_database(desk.database_url)
    runner = Runner(db, directory=str(MIGRATIONS_DIR))
    names = [m.name for m in runner.migrations()]
    runner.up(target=names[names.index("0008_redelivery_and_floods") - 1])
    message_id = header_message_id(smtp_copy)
    intake_id = store_as_before_0008(db, smtp_copy, legacy_key(smtp_copy, message_id))
    with using(db):
        assert Intake.get_by_id(intake_id).dedupe_key != dedupe_key(smtp_copy, message_id)
    db.close()

    upgraded = desk.run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output + upgraded.stderr
    eml = tmp_path / "copy.eml"
    eml.write_bytes(lf_copy(smtp_copy))
    # The stored message was never processed: its redelivery processes it, once.
    [line] = ingest(desk, eml)
    assert (line["action"], line["ticket"]) == ("created", "SUP-00001")
    [again] = ingest(desk, eml)
    assert (again["action"], again["ticket"]) == ("duplicate", "SUP-00001")
    assert again["reason"].startswith(f"already stored (intake {intake_id},")
    assert len(desk.json("tickets", "list")) == 1
