"""Full-text search over messages (store.search), on SQLite FTS5 and PostgreSQL."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildesk.config import load_config
from maildesk.pipeline.ingest import Runtime, open_runtime
from maildesk.store import search
from maildesk.store.models import Message, Ticket
from tests.conftest import write_config
from tests.conversation import customer_mail


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    with open_runtime(load_config(write_config(tmp_path, database_url))).session() as running:
        yield running


def numbers(runtime: Runtime, text: str) -> list[int]:
    ids = search.ticket_ids(runtime.db, text)
    by_id = {t.id: t.number for t in Ticket.select().where(Ticket.id.in_(ids))}
    return [by_id[i] for i in ids]


def test_words_in_subjects_bodies_and_senders(runtime: Runtime) -> None:
    runtime.ingest(customer_mail(subject="Printer on fire", body="It smokes."), source="t")
    runtime.ingest(
        customer_mail("Zoë Ångström <zoe@z.example>", subject="Invoice", body="Order 4711 twice"),
        source="t",
    )
    assert numbers(runtime, "printer") == [1]
    assert numbers(runtime, "SMOKES") == [1]
    assert numbers(runtime, "4711") == [2]
    assert numbers(runtime, "order 4711") == [2]
    assert numbers(runtime, "order printer") == []  # every word must match
    assert numbers(runtime, "zoe@z.example") == [2]
    assert numbers(runtime, "Zoë") == [2]


def test_newest_match_first_and_no_words(runtime: Runtime) -> None:
    for n in range(3):
        runtime.ingest(customer_mail(subject=f"Case {n}", body="the same words"), source="t")
    assert numbers(runtime, "same words") == [3, 2, 1]
    assert search.ticket_ids(runtime.db, '  "*&|  ') == []


@pytest.mark.parametrize("hostile", ['"', "a OR b", "NEAR(a b)", "a*", "-x", "col:x", "'; --"])
def test_search_syntax_in_the_text_is_only_text(runtime: Runtime, hostile: str) -> None:
    runtime.ingest(customer_mail(body="plain words here"), source="t")
    assert isinstance(search.ticket_ids(runtime.db, hostile), list)


def test_the_index_follows_changes(runtime: Runtime) -> None:
    runtime.ingest(customer_mail(body="original wording"), source="t")
    message = Message.get()
    Message.update(body_text="rewritten text").where(Message.id == message.id).execute()
    assert numbers(runtime, "original") == []
    assert numbers(runtime, "rewritten") == [1]


def test_the_migration_indexes_the_same_document_on_postgresql() -> None:
    migration = importlib.import_module("maildesk.store.migrations.0005_web")
    assert migration.PG_DOCUMENT == search.PG_DOCUMENT
