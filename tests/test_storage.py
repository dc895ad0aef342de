"""Raw mail and attachments in the database, a folder or an S3 bucket (`[storage]`), on
SQLite and PostgreSQL: intake over SMTP and `maildesk ingest` stores the bytes where
configured before it answers, a redelivery is stored once, bytes read back are checked,
a crash between the write and the commit loses nothing, and `maildesk storage migrate`
moves every blob there and back, resumably. The S3 store is a real `rclone serve s3`
on loopback (tests/storage.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import pytest

from maildesk.config import load_config, read_environ
from maildesk.inbound import intake
from maildesk.store import repo
from maildesk.store.blobs import (
    BlobError,
    Blobs,
    BlobStoreDown,
    FilesystemStore,
    attach,
    blobs_of,
    migrate,
)
from maildesk.store.db import is_transient
from maildesk.store.models import Attachment, Blob, Intake, Ticket
from tests.conftest import Install, opened, write_config
from tests.daemon import Daemon, daemon_config
from tests.storage import (  # noqa: F401
    BACKENDS,
    BUCKET,
    KEY,
    KEY_ENV,
    SECRET,
    SECRET_ENV,
    S3Server,
    Storage,
    s3_server,
    storage_for,
)
from tests.test_daemon import SUPPORT
from tests.test_ingest import mail
from tests.web_support import site

PDF = b"%PDF-1.4 not really a pdf " * 200
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Storage:
    return storage_for(backend, tmp_path, request, monkeypatch)


@pytest.fixture
def stored(tmp_path: Path, database_url: str, storage: Storage) -> Install:
    """A desk whose [storage] is the backend under test."""
    return Install(write_config(tmp_path, database_url, storage.section), database_url, tmp_path)


@pytest.fixture
def blobs_db(stored: Install) -> Iterator[peewee.Database]:
    """The desk's database with its configured byte store, as a command opens it."""
    config = load_config(stored.config_path)
    with opened(stored.database_url, migrate=True) as db:
        attach(db, Blobs(config.storage, read_environ()))
        yield db


def with_attachment(message_id: str = "<att@customer.example>", data: bytes = PDF) -> bytes:
    return mail(message_id=message_id, attachments=[("quote.pdf", "application/pdf", data)])


def check_placed(storage: Storage, sha256: str, data: bytes) -> None:
    """The blob row says where the bytes are, and they are there (and only there)."""
    row = Blob.get_by_id(sha256)
    assert (row.location, row.size) == (storage.backend, len(data))
    place = storage.place(sha256)
    if place is None:
        assert bytes(row.data) == data
    else:
        assert bytes(row.data) == b"" and place.read_bytes() == data


def test_ingest_stores_raw_and_attachments_in_the_backend(
    stored: Install, storage: Storage, blobs_db: peewee.Database
) -> None:
    raw = with_attachment()
    [line] = stored.ingest(raw)
    assert line["action"] == "created"
    [attachment] = stored.json("tickets", "show", "1")["messages"][0]["attachments"]
    assert attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    check_placed(storage, attachment["sha256"], PDF)
    intake_row = Intake.get()
    check_placed(storage, intake_row.raw_id, raw)
    assert repo.blob_bytes(attachment["sha256"]) == PDF
    assert repo.blob_bytes(intake_row.raw_id) == raw


def test_a_redelivery_is_stored_once(
    stored: Install, storage: Storage, blobs_db: peewee.Database
) -> None:
    raw = with_attachment()
    lines = stored.ingest(raw, raw)
    assert [x["action"] for x in lines] == ["created", "duplicate"]
    # The same attachment in another message is the same blob.
    stored.ingest(with_attachment("<other@customer.example>"))
    assert Ticket.select().count() == 2
    assert Blob.select().count() == 3  # two raw messages, one attachment
    assert Attachment.select(Attachment.blob).distinct().count() == 1
    if storage.backend == "filesystem":
        assert storage.folder is not None
        assert len([p for p in storage.folder.rglob("*") if p.is_file()]) == 3


def test_reads_check_the_hash(stored: Install, storage: Storage, blobs_db: peewee.Database) -> None:
    stored.ingest(with_attachment())
    sha256 = hashlib.sha256(PDF).hexdigest()
    place = storage.place(sha256)
    if place is None:
        Blob.update(data=b"tampered").where(Blob.sha256 == sha256).execute()
    elif storage.backend == "s3":  # through the server, which keeps its own metadata
        config = load_config(stored.config_path)
        Blobs(config.storage, read_environ()).store("s3").put(sha256, b"tampered")
    else:
        place.write_bytes(b"tampered")
    with pytest.raises(BlobError, match="does not match its SHA-256"):
        repo.blob_bytes(sha256)


@pytest.mark.parametrize("backend", ["filesystem"], indirect=True)
def test_a_read_racing_a_migration_finds_the_moved_bytes(
    stored: Install, blobs_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored.ingest(with_attachment())
    sha256 = hashlib.sha256(PDF).hexdigest()
    blobs = blobs_of(blobs_db)
    real_read = blobs.read

    def read_after_the_move(sha: str, location: str, data: bytes | None) -> bytes:
        monkeypatch.setattr(blobs, "read", real_read)
        migrate(blobs_db, blobs, "database")  # between reading the row and the file
        return real_read(sha, location, data)

    monkeypatch.setattr(blobs, "read", read_after_the_move)
    assert repo.blob_bytes(sha256) == PDF
    assert Blob.get_by_id(sha256).location == "database"


def test_smtp_intake_stores_in_the_backend_before_the_250(
    stored: Install, storage: Storage
) -> None:
    write_config(stored.root, stored.database_url, storage.section + daemon_config())
    daemon = Daemon(stored.config_path, stored.root).start()
    raw = with_attachment("<smtp@customer.example>")
    try:
        with daemon.smtp() as smtp:
            smtp.sendmail("alice@customer.example", [SUPPORT], raw)
        # The 250 came: the raw bytes are where the config says, durably, already.
        with opened(stored.database_url):
            [row] = Intake.select()
            assert Blob.get_by_id(row.raw_id).location == storage.backend
            place = storage.place(row.raw_id)
            assert place is None or hashlib.sha256(place.read_bytes()).hexdigest() == row.raw_id
        daemon.wait_for_line("created SUP-00001")
        where = "in the database" if storage.backend == "database" else storage.backend
        assert f"storage: {where}" in daemon.log  # checked at the start
    finally:
        assert daemon.stop() == 0, daemon.log
    [attachment] = stored.json("tickets", "show", "1")["messages"][0]["attachments"]
    with opened(stored.database_url):
        check_placed(storage, attachment["sha256"], PDF)


class Crash(BaseException):
    """The process died here (not an Exception: nothing may catch and carry on)."""


def test_a_crash_between_the_write_and_the_commit_loses_nothing(
    stored: Install, storage: Storage, blobs_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = with_attachment()
    sha256 = hashlib.sha256(raw).hexdigest()

    def crash(db: peewee.Database) -> None:
        place = storage.place(sha256)
        assert place is None or place.read_bytes() == raw  # written before the transaction
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(intake, "write_transaction", crash)
        with pytest.raises(Crash):
            intake.accept(blobs_db, raw, source="test", now=NOW)
    # Never acknowledged, nothing visible: no intake, no blob row, no ticket.
    assert (Intake.select().count(), Blob.select().count(), Ticket.select().count()) == (0, 0, 0)
    # The sender delivers again (it got no 250): stored once, bytes where configured.
    assert [x["action"] for x in stored.ingest(raw)] == ["created"]
    check_placed(storage, sha256, raw)
    assert stored.json("tickets", "show", "1")["messages"][0]["attachments"]


def test_s3_down_nothing_is_acknowledged_and_the_retry_stores_it(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = S3Server(tmp_path / "s3").start()
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def configure(endpoint: str) -> Install:
        section = (
            f'[storage]\nbackend = "s3"\nendpoint = "{endpoint}"\nbucket = "{BUCKET}"\n'
            f'access_key_id_env = "{KEY_ENV}"\nsecret_access_key_env = "{SECRET_ENV}"\n'
        )
        return Install(write_config(tmp_path, database_url, section), database_url, tmp_path)

    desk = configure(server.endpoint)
    server.stop()
    raw = with_attachment()
    result = desk.run("ingest", "--json", "-", input=raw)
    assert result.exit_code == 1
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["action"] == "error" and "s3 put" in line["reason"]
    with opened(database_url, migrate=True):
        assert (Intake.select().count(), Blob.select().count()) == (0, 0)
    server = S3Server(tmp_path / "s3").start()  # back (on another port)
    try:
        desk = configure(server.endpoint)
        assert [x["action"] for x in desk.ingest(raw)] == ["created"]
        assert desk.json("tickets", "show", "1")["messages"][0]["attachments"]
    finally:
        server.stop()


def test_check_config_writes_to_the_store(stored: Install, storage: Storage) -> None:
    result = stored.run("check-config")
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.stdout.splitlines() if x.startswith("storage:")]
    expected = {
        "database": "storage: ok, in the database",
        "filesystem": f"storage: ok, filesystem {storage.folder}",
        "s3": f"storage: ok, s3 bucket {BUCKET} at ",
    }[storage.backend]
    assert line.startswith(expected)
    if storage.folder is not None:  # the probe file is gone again
        assert [p.name for p in storage.folder.iterdir()] == []


def test_a_store_that_cannot_be_written_is_reported_at_the_start(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    section = f'[storage]\nbackend = "filesystem"\npath = "{tmp_path / "a-file" / "blobs"}"\n'
    desk = Install(write_config(tmp_path, database_url, section), database_url, tmp_path)
    result = desk.run("check-config")
    assert result.exit_code == 1
    assert "storage error: cannot write in" in result.stderr and "a-file" in result.stderr
    server = S3Server(tmp_path / "s3").start()
    endpoint = server.endpoint
    server.stop()  # an S3 store that does not answer
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    section = (
        f'[storage]\nbackend = "s3"\nendpoint = "{endpoint}"\nbucket = "{BUCKET}"\n'
        f'access_key_id_env = "{KEY_ENV}"\nsecret_access_key_env = "{SECRET_ENV}"\n'
    )
    write_config(tmp_path, database_url, section + daemon_config())
    result = desk.run("check-config")
    assert result.exit_code == 1 and "storage error: s3 head bucket" in result.stderr
    daemon = Daemon(desk.config_path, tmp_path).start()  # runs on; says why mail waits
    try:
        daemon.wait_for_line("storage cannot be written")
        with daemon.smtp() as smtp, pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("alice@customer.example", [SUPPORT], with_attachment())
        assert 400 <= refused.value.smtp_code < 500  # the sender's server tries again
    finally:
        assert daemon.stop() == 0, daemon.log


def test_unreadable_stored_bytes_are_a_clear_web_error(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes gone from the folder, damaged, or a store that does not answer: the
    download says so (500, or 503 with Retry-After), never a traceback."""
    folder = tmp_path / "blobs"
    section = f'[storage]\nbackend = "filesystem"\npath = "{folder}"\n'
    with site(tmp_path, database_url, section) as web:
        web.add_agent("ann@example.com", "Ann")
        assert web.sign_in("ann@example.com").status_code == 303
        outcome = web.runtime.ingest(with_attachment(), source="test")
        assert outcome.ticket == "SUP-00001"
        with opened(database_url):
            [attachment] = Attachment.select()
            [message] = Intake.get_by_id(outcome.intake_id).messages
        download = f"/attachments/{attachment.id}/quote.pdf"
        original = f"/tickets/SUP-00001/messages/{message.id}/original"
        assert web.client.get(download).content == PDF
        place = folder / attachment.blob_id[:2] / attachment.blob_id[2:4] / attachment.blob_id
        place.write_bytes(PDF[:-1] + b"!")  # damaged
        damaged = web.client.get(download)
        assert damaged.status_code == 500 and "missing or damaged" in damaged.text
        assert "Traceback" not in damaged.text and str(folder) not in damaged.text
        place.unlink()  # gone
        assert web.client.get(download).status_code == 500
        raw_place = next(p for p in folder.rglob("*") if p.is_file())
        raw_place.unlink()
        assert web.client.get(original).status_code == 500

        def down(self: FilesystemStore, sha256: str) -> bytes:
            raise BlobStoreDown(f"cannot read {self.path(sha256)}: Input/output error")

        monkeypatch.setattr(FilesystemStore, "get", down)  # an unmounted share, say
        unreachable = web.client.get(original)
        assert unreachable.status_code == 503 and unreachable.headers["retry-after"] == "60"
        assert "cannot be reached" in unreachable.text


def test_a_store_that_is_down_is_a_transient_failure(tmp_path: Path) -> None:
    assert is_transient(BlobStoreDown("s3 put x: connection refused"))
    assert not is_transient(BlobError("blob x does not match its SHA-256"))
    (tmp_path / "a-file").write_text("not a folder")
    store = FilesystemStore(tmp_path / "a-file" / "blobs")  # an unmounted share, say
    with pytest.raises(BlobStoreDown, match="cannot write"):
        store.put(hashlib.sha256(b"x").hexdigest(), b"x")


@pytest.mark.parametrize("backend", ["database"], indirect=True)
def test_storage_migrate_moves_every_blob_there_and_back(
    stored: Install, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [with_attachment(f"<m{n}@customer.example>", PDF + bytes([n])) for n in range(4)]
    stored.ingest(*messages)

    def shown() -> dict[int, Any]:  # without the SLA view: its elapsed time follows the clock
        tickets = {n: stored.json("tickets", "show", str(n)) for n in range(1, 5)}
        return {n: {k: v for k, v in t.items() if k != "sla"} for n, t in tickets.items()}

    before = shown()
    s3 = storage_for("s3", tmp_path, request, monkeypatch)
    for backend in ("filesystem", "s3", "database", "s3"):
        # New mail goes where [storage] backend says; migrate moves what is stored.
        section = s3.section.replace('backend = "s3"', f'backend = "{backend}"')
        write_config(stored.root, stored.database_url, section)
        report = stored.json("storage", "migrate", "--to", backend)
        assert report == {"to": backend, "moved": 8, "locations": {backend: 8}}
        assert stored.json("storage", "migrate", "--to", backend)["moved"] == 0  # idempotent
        config = load_config(stored.config_path)
        with opened(stored.database_url) as db:
            attach(db, Blobs(config.storage, read_environ()))
            for row in Blob.select():
                assert hashlib.sha256(repo.blob_bytes(row.sha256)).hexdigest() == row.sha256
        assert shown() == before
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert files == []  # moved away from the folder, not copied


@pytest.mark.parametrize("backend", ["database"], indirect=True)
def test_an_interrupted_migration_continues_where_it_stopped(
    stored: Install, storage: Storage, blobs_db: peewee.Database
) -> None:
    stored.ingest(*[mail(message_id=f"<i{n}@customer.example>", body=f"n{n}") for n in range(6)])
    section = f'[storage]\nbackend = "filesystem"\npath = "{stored.root / "blobs"}"\n'
    write_config(stored.root, stored.database_url, section)
    target = Blobs(load_config(stored.config_path).storage)
    puts: list[str] = []
    store = target.store("filesystem")
    real_put = store.put

    def put_then_die(sha256: str, data: bytes) -> None:
        if len(puts) == 3:
            raise Crash  # killed after three blobs moved and a fourth written
        puts.append(sha256)
        real_put(sha256, data)

    store.put = put_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        migrate(blobs_db, target, "filesystem", batch=2)
    locations = {row.location for row in Blob.select()}
    assert locations == {"database", "filesystem"}
    assert Blob.select().where(Blob.location == "filesystem").count() == 3
    # The rerun (the command, as an admin would run it) moves the rest, and only the rest.
    report = stored.json("storage", "migrate", "--to", "filesystem")
    assert report == {"to": "filesystem", "moved": 3, "locations": {"filesystem": 6}}
    assert len(stored.json("tickets", "list")) == 6


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('backend = "nfs"', "storage.backend: must be one of database, filesystem, s3"),
        ('backend = "filesystem"', 'storage.path: must not be empty when backend is "filesystem"'),
        ('backend = "s3"', 'storage.bucket: must not be empty when backend is "s3"'),
        ('endpoint = "localhost:9000"', "storage.endpoint: must be an http:// or https:// URL"),
        ('access_key_id_env = "not a name"', "storage.access_key_id_env: must be an environment"),
    ],
)
def test_bad_storage_settings_are_one_line_errors(
    tmp_path: Path, database_url: str, section: str, message: str
) -> None:
    desk = Install(write_config(tmp_path, database_url, f"[storage]\n{section}\n"), "", tmp_path)
    result = desk.run("check-config")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_migrating_to_an_unconfigured_place_is_a_usage_error(desk: Install) -> None:
    result = desk.run("storage", "migrate", "--to", "filesystem")
    assert result.exit_code == 2
    assert "storage.path: must not be empty to migrate to filesystem" in result.stderr
    assert json.loads(desk.run("storage", "migrate", "--to", "database", "--json").stdout) == {
        "to": "database",
        "moved": 0,
        "locations": {},
    }
