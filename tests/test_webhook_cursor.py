"""The webhook cursor over the event log (`events.fanout`): a new installation starts
at the end, each event becomes one delivery per endpoint that wants it, and on
PostgreSQL an event whose transaction commits after a later-numbered one's is still
delivered (the cursor follows commit order, not ids)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import peewee
import pytest

from maildesk.config import load_config
from maildesk.events import deliveries, fanout, hooks
from maildesk.settings.desks import Desks
from maildesk.settings.fields import Fields
from maildesk.store.db import open_database
from maildesk.store.models import Event, Ticket, WebhookDelivery
from maildesk.store.scope import using
from tests.conftest import Install
from tests.conversation import customer_mail

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def ticketed(desk: Install) -> Install:
    [outcome] = desk.ingest(customer_mail())
    assert outcome["action"] == "created"
    return desk


@pytest.fixture
def connections(ticketed: Install) -> Iterator[list[peewee.Database]]:
    opened = [open_database(ticketed.database_url) for _ in range(3)]
    yield opened
    for db in opened:
        db.close()


def _pass(db: peewee.Database, desk: Install) -> fanout.Pass:
    config = load_config(desk.config_path)
    return fanout.fan_out(db, Desks.from_config(config), Fields.from_config(config), NOW)


def _passes(db: peewee.Database, desk: Install, events: int) -> fanout.Pass:
    """Passes until `events` events were passed, summed (on PostgreSQL another test's
    transaction in this database may hold the log back a moment: that is the design)."""
    deadline = time.monotonic() + 20
    total = fanout.Pass(0, 0)
    while total.events < events and time.monotonic() < deadline:
        one = _pass(db, desk)
        total = fanout.Pass(total.events + one.events, total.deliveries + one.deliveries)
        if one.events == 0:
            time.sleep(0.05)
    return total


def _catch_up(db: peewee.Database, desk: Install) -> None:
    """Passes until the cursor is past every event written so far."""
    with using(db):
        last = Event.select(peewee.fn.MAX(Event.id)).scalar()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _pass(db, desk)
        with using(db):
            at = fanout.position(db)
        if at is not None and at.id >= last:
            return
        time.sleep(0.05)
    raise AssertionError(f"the cursor is at {at}, the log at {last}")


def _event(kind: str = "tags_changed") -> None:
    ticket = Ticket.select().first()
    Event.create(ticket=ticket, at=NOW, actor="test", type=kind, data={"added": ["x"]})


def _delivered_events(db: peewee.Database) -> list[int]:
    with using(db):
        return [d.event_id for d in WebhookDelivery.select().order_by(WebhookDelivery.id)]


def test_the_cursor_moves_on_without_endpoints_and_takes_each_event_once(
    ticketed: Install, connections: list[peewee.Database]
) -> None:
    db = connections[0]
    _catch_up(db, ticketed)  # no endpoint yet: the cursor moves on all the same
    hooks.add(db, "https://hooks.example.com/", ["*"], None, False, "test", NOW)
    assert _pass(db, ticketed) == fanout.Pass(0, 0)  # what came before is not sent
    with using(db), db.atomic():
        _event()
        _event("commands_rejected")  # internal: no delivery for this endpoint
    assert _passes(db, ticketed, 2) == fanout.Pass(2, 1)
    assert _pass(db, ticketed) == fanout.Pass(0, 0)
    with using(db):
        [row] = WebhookDelivery.select()
        assert row.type == "ticket.updated" and row.msg_id == f"evt_{row.event_id}"
    claimed = deliveries.claim_due(db, NOW, 10, load_config(ticketed.config_path).webhooks)
    assert [c.id for c in claimed] == [row.id]
    # leased: not claimed again until the lease runs out
    assert deliveries.claim_due(db, NOW, 10, load_config(ticketed.config_path).webhooks) == []


def test_an_event_of_a_transaction_that_took_its_id_early_is_delivered(
    ticketed: Install, connections: list[peewee.Database], database_url: str
) -> None:
    """Transaction B writes first (older xid), A takes event id N, B takes N+1 and
    commits; a pass then takes B's events; A commits; the next pass takes N."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: ids commit in order")
    a, b, reader = connections
    _catch_up(reader, ticketed)
    hooks.add(reader, "https://hooks.example.com/", ["*"], None, False, "test", NOW)
    b.begin()
    a.begin()
    try:
        with using(b):
            _event()
        with using(a):
            _event()
            a_id = Event.select(peewee.fn.MAX(Event.id)).scalar()
        with using(b):
            _event()
            b_id = Event.select(peewee.fn.MAX(Event.id)).scalar()
        b.commit()
        assert b_id > a_id
        first = _passes(reader, ticketed, 2)
        assert first.events == 2  # b's two: older than every transaction still running
        assert _pass(reader, ticketed).events == 0  # a's waits for a
        assert a_id not in _delivered_events(reader)
        assert b_id in _delivered_events(reader)
        a.commit()
    finally:
        for db in (a, b):
            if db.in_transaction():
                db.rollback()
    assert _passes(reader, ticketed, 1).events == 1
    assert a_id in _delivered_events(reader)  # an id-only cursor would have passed it


def test_a_long_transaction_of_another_database_does_not_hold_the_log_back(
    ticketed: Install, connections: list[peewee.Database], database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    reader = connections[0]
    _catch_up(reader, ticketed)
    hooks.add(reader, "https://hooks.example.com/", ["*"], None, False, "test", NOW)
    elsewhere = peewee.PostgresqlDatabase("postgres", host="127.0.0.1", user="postgres")
    elsewhere.connect()
    try:
        elsewhere.begin()
        elsewhere.execute_sql("SELECT pg_current_xact_id()")  # holds a transaction id
        with using(reader), reader.atomic():
            _event()
        assert _passes(reader, ticketed, 1).events == 1
    finally:
        elsewhere.rollback()
        elsewhere.close()


def test_migration_keeps_each_events_body_once(database_url: str, tmp_path) -> None:
    """Deliveries written before bodies moved to `webhook_payload` keep their bodies:
    one payload per event, every endpoint's row pointing at it."""
    from playhouse.migrations import Runner

    from maildesk.store.db import MIGRATIONS_DIR, upgrade

    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("[0-9]*.py")):
        if path.name < "0028":
            (before / path.name).write_text(path.read_text())
    db = open_database(database_url)
    try:
        with using(db):
            list(Runner(db, directory=str(before)).up())
            stamp = "2026-12-07 12:00:00"
            for hook in (1, 2):
                db.execute_sql(
                    'INSERT INTO "webhook" ("id", "key", "origin", "url", "events", "internal", '
                    '"secret_env", "active", "created_at", "created_by") VALUES '
                    f"({hook}, 'k{hook}', 'admin', 'https://example.com/', '[\"*\"]', "
                    f"{db.param}, '', {db.param}, '{stamp}', '')",
                    (False, True),
                )
            for event, body in ((7, '{"a":7}'), (8, '{"b":8}')):
                for hook in (1, 2):
                    db.execute_sql(
                        'INSERT INTO "webhook_delivery" ("webhook_id", "event_id", "msg_id", '
                        '"type", "body", "state", "attempts", "next_at", "created_at", '
                        f"\"last_error\") VALUES ({hook}, {event}, 'evt_{event}', "
                        f"'ticket.updated', {db.param}, 'pending', 0, '{stamp}', '{stamp}', '')",
                        (body,),
                    )
            assert upgrade(db)[0] == "0028_webhook_payloads"
            rows = db.execute_sql(
                'SELECT d."event_id", p."body" FROM "webhook_delivery" AS d '
                'JOIN "webhook_payload" AS p ON p."id" = d."payload_id" ORDER BY d."id"'
            ).fetchall()
            assert [tuple(r) for r in rows] == [
                (7, '{"a":7}'), (7, '{"a":7}'), (8, '{"b":8}'), (8, '{"b":8}')
            ]  # fmt: skip
            (payloads,) = db.execute_sql('SELECT count(*) FROM "webhook_payload"').fetchone()
            assert payloads == 2
            claimed = deliveries.claim_due(db, NOW, 10, load_config(None).webhooks)
            seven, eight = ("evt_7", '{"a":7}'), ("evt_8", '{"b":8}')
            assert [(c.msg_id, c.body) for c in claimed] == [seven, seven, eight, eight]
    finally:
        db.close()
