"""Where raw mail and attachment bytes live: the database, a folder, or an S3 bucket.

Every stored byte string has a `Blob` row (its SHA-256, its size and `location`,
the backend that holds the bytes); with `location = "database"` the bytes are in
the row itself, as they always were. `[storage] backend` says where new bytes go:

- ``database``: in the row (the default; one backup holds everything);
- ``filesystem``: one file per SHA-256 under ``[storage] path`` (a shared
  filesystem when several instances run), written to a temporary file, fsynced,
  renamed and the folder fsynced, as Postfix and Dovecot do;
- ``s3``: one object per SHA-256 in an S3-compatible bucket.

Outside bytes are written, durably, before the transaction that inserts their
row commits (intake: before the `250`), so a committed row always names bytes
that exist; a crash in between leaves, at worst, an unreferenced file that the
next delivery of the same bytes reuses. Reads follow the row's `location`, so
blobs written before a change of backend (or during `maildesk storage migrate`)
stay readable, and every read checks the SHA-256.

The `Blobs` of a database is attached to the database object once by the
composition root (`attach`), next to opening it, and travels with it: a unit of
work already names its database, so `repo.put_blob` and `repo.blob_bytes` find
the store through it, with no registry on the side. A database with none
attached keeps bytes in the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import peewee

from maildesk.config import ConfigError
from maildesk.settings.sections import StorageConfig
from maildesk.store import rows
from maildesk.store.db import is_postgres, using, write_transaction
from maildesk.store.models import Blob

DATABASE = "database"
BACKENDS = (DATABASE, "filesystem", "s3")
# Writes of one group commit in flight at once. bench/storage, batches of 32 on 2
# cores: to a folder 8 in flight accept ~5x the messages per second of 1 at a time
# (the fsyncs overlap); to a local rclone S3 about the same (the server is
# CPU-bound there; a remote store's latency is what overlapping PUTs hide).
PARALLEL_WRITES = 8


# Bytes kept in a SQLite row beyond this go in a chunk at a time (`insert_row`).
BIG_VALUE = 1 << 20
_CHUNK = 1 << 20


class BlobError(RuntimeError):
    """Stored bytes are missing or corrupt, or their store cannot be used."""


class BlobStoreDown(BlobError):
    """The store cannot be reached or written just now: like a database that is down,
    not the message's fault (`store.db.is_transient`), so the work is retried later
    instead of quarantining the message."""


class ExternalStore(Protocol):
    """A place outside the database that holds bytes by their SHA-256."""

    name: str

    def put(self, sha256: str, data: bytes) -> None:
        """Store durably (returns only once the bytes survive a crash); idempotent."""

    def get(self, sha256: str) -> bytes: ...

    def delete(self, sha256: str) -> None: ...

    def check(self) -> str:
        """Whether the store can be written now (BlobStoreDown, BlobError if not); what
        it is, in a few words, if it can."""


class FilesystemStore:
    """Files `PATH/ab/cd/<sha256>`: the first two byte pairs spread them over folders."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        target = self.path(sha256)
        if target.exists():  # content-addressed: the same name holds the same bytes
            # whose writer may have died before making the name durable: make it so.
            sync_folder(target.parent)
            return
        temp = target.parent / f".{sha256}.{secrets.token_hex(6)}.tmp"
        try:
            new_entries = self._make_folders(target.parent)
            with open(temp, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, target)
            for folder in (target.parent, *new_entries):
                sync_folder(folder)
        except OSError as exc:  # disk full, read-only, unmounted share
            with contextlib.suppress(OSError):  # there may be no folder to hold it
                temp.unlink(missing_ok=True)
            raise BlobStoreDown(f"cannot write {target}: {exc.strerror or exc}") from exc

    def _make_folders(self, folder: Path) -> list[Path]:
        """Create `folder` (ab/cd under the root) as needed; the folders whose entries
        that added, which need an fsync too (at most two, once per folder)."""
        if folder.is_dir():
            return []
        self.root.mkdir(parents=True, exist_ok=True)
        added = []
        for path in (folder.parent, folder):
            try:
                path.mkdir()
                added.append(path.parent)
            except FileExistsError:
                pass
        return added

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise BlobError(f"blob {sha256} missing from {self.root}") from None
        except OSError as exc:
            raise BlobStoreDown(f"cannot read {self.path(sha256)}: {exc.strerror}") from exc

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def check(self) -> str:
        """A file written, synced and removed at the root (created if need be)."""
        probe = self.root / f".check.{secrets.token_hex(6)}.tmp"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as file:
                file.write(b"maildesk")
                os.fsync(file.fileno())
        except OSError as exc:
            raise BlobStoreDown(f"cannot write in {self.root}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(OSError):  # there may be no folder to hold it
                probe.unlink(missing_ok=True)
        return f"filesystem {self.root}"


def sync_folder(folder: Path) -> None:
    """A rename or a new entry is durable once its folder is synced."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class S3Store:
    """Objects `PREFIX<sha256>` in a bucket of any S3-compatible store (boto3).

    A successful PUT is durable by S3's contract, so it counts as the fsync."""

    name = "s3"

    def __init__(self, config: StorageConfig, environ: Mapping[str, str]) -> None:
        try:
            import boto3
            from botocore.config import Config as BotoConfig
        except ImportError:  # pragma: no cover - boto3 is a dependency
            raise BlobError("the s3 backend needs boto3: pip install 'maildesk[s3]'") from None
        self.bucket = config.bucket
        self.prefix = config.prefix
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=config.endpoint or None,
            region_name=config.region,
            aws_access_key_id=environ.get(config.access_key_id_env) or None,
            aws_secret_access_key=environ.get(config.secret_access_key_env) or None,
            config=BotoConfig(
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"} if config.endpoint else {},
            ),
        )

    def key(self, sha256: str) -> str:
        return self.prefix + sha256

    def put(self, sha256: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data)
        except Exception as exc:
            raise _s3_error("put", self.key(sha256), exc) from exc

    def get(self, sha256: str) -> bytes:
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self.key(sha256))
            return bytes(reply["Body"].read())
        except Exception as exc:
            raise _s3_error("get", self.key(sha256), exc) from exc

    def delete(self, sha256: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            raise _s3_error("delete", self.key(sha256), exc) from exc

    def check(self) -> str:
        """The bucket answers (HEAD), with these credentials."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise _s3_error("head bucket", self.bucket, exc) from exc
        return f"s3 bucket {self.bucket} at {self._client.meta.endpoint_url}"


def _s3_error(action: str, key: str, exc: Exception) -> BlobError:
    """A 4xx answer is about this object or these settings (missing, denied); anything
    else (no connection, a timeout, a 5xx) is the store being down."""
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    problem = BlobError if 400 <= int(status or 0) < 500 else BlobStoreDown
    return problem(f"s3 {action} {key}: {' '.join(str(exc).split())}")


@dataclass
class Blobs:
    """The backend new bytes go to, and every backend the configuration can reach."""

    config: StorageConfig | None = None  # None: bytes in the database, nothing else reachable
    environ: Mapping[str, str] = field(default_factory=dict)
    _stores: dict[str, ExternalStore] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def backend(self) -> str:
        return DATABASE if self.config is None else self.config.backend

    def store(self, name: str) -> ExternalStore:
        """The outside store `name` (built on first use)."""
        config = self.config
        if config is None:
            raise BlobError(f'no [storage] settings to reach the "{name}" store')
        if name not in self._stores:
            if name == "filesystem":
                if not config.path:
                    raise BlobError('[storage] path is needed to reach the "filesystem" store')
                self._stores[name] = FilesystemStore(Path(config.path))
            elif name == "s3":
                if not config.bucket:
                    raise BlobError('[storage] bucket is needed to reach the "s3" store')
                self._stores[name] = S3Store(config, self.environ)
            else:
                raise BlobError(f"unknown blob location {name!r}")
        return self._stores[name]

    def check(self) -> str:
        """Whether the store new bytes go to can be written now (BlobError if not); what
        it is, in a few words."""
        if self.backend == DATABASE:
            return "in the database"
        return self.store(self.backend).check()

    def put(self, data: bytes, backend: str | None = None) -> tuple[str, str]:
        """Write `data` durably where `backend` (default: the configured one) keeps
        bytes outside the database; (sha256, location). Nothing is written for the
        database backend: the caller puts the bytes in the row."""
        digest = hashlib.sha256(data).hexdigest()
        location = backend or self.backend
        if location != DATABASE:
            self.store(location).put(digest, data)
        return digest, location

    def put_all(self, datas: Sequence[bytes]) -> list[tuple[str, str]]:
        """`put` for each, the writes outside the database side by side: a group
        commit waits for the slowest write, not for the sum of them (fsyncs overlap
        in the filesystem's journal, PUTs on the network)."""
        if self.backend == DATABASE or len(datas) < 2:
            return [self.put(data) for data in datas]
        with self._lock:  # intake runs on several threads
            if self._pool is None:
                self._pool = ThreadPoolExecutor(PARALLEL_WRITES, thread_name_prefix="blobs")
            pool = self._pool
        return list(pool.map(self.put, datas))

    def read(self, sha256: str, location: str, data: bytes | None) -> bytes:
        """The bytes of a blob row, checked against its SHA-256."""
        raw = bytes(data) if location == DATABASE and data is not None else None
        if raw is None:
            if location == DATABASE:
                raise BlobError(f"blob {sha256} has no bytes in the database")
            raw = self.store(location).get(sha256)
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise BlobError(f"blob {sha256} ({location}) does not match its SHA-256")
        return raw


def open_blobs(config: StorageConfig, environ: Mapping[str, str]) -> Blobs:
    """The byte store `config` describes, its backend built now, so that a store that
    cannot be used (boto3 missing) stops the command or the daemon at its start, not
    at the first message."""
    blobs = Blobs(config, environ)
    if blobs.backend != DATABASE:
        try:
            blobs.store(blobs.backend)
        except BlobError as exc:
            raise ConfigError("storage.backend", str(exc)) from None
    return blobs


# The attribute of a database object that holds its byte store: the store belongs to
# the database it serves (no registry beside it), so whatever names the database
# (a unit of work, the intake) reaches its store too.
_STORE_ATTRIBUTE = "maildesk_blobs"


def attach(db: peewee.Database, blobs: Blobs) -> None:
    """Make `blobs` the byte store of `db` (the composition root does, once, next to
    opening the database)."""
    setattr(db, _STORE_ATTRIBUTE, blobs)


def blobs_of(db: peewee.Database) -> Blobs:
    """The byte store of `db`; bytes in the database when none was attached."""
    blobs = getattr(db, _STORE_ATTRIBUTE, None)
    if blobs is None:
        blobs = Blobs()
        attach(db, blobs)
    return blobs


@dataclass(frozen=True)
class Moved:
    """What one `migrate` run did, and where every blob is now."""

    to: str
    moved: int
    locations: dict[str, int]  # location -> blobs there, after the run


def migrate(
    db: peewee.Database,
    blobs: Blobs,
    to: str,
    *,
    batch: int = 100,
    on_moved: Callable[[str], None] | None = None,
) -> Moved:
    """Move every blob not at `to` there, one by one: copy the bytes (checked), commit
    the row's new location, then delete the old copy. A crash at any point loses
    nothing (the row names a complete copy at all times) and a rerun continues with
    the blobs not moved yet; a blob moved already is not touched again."""
    if to != DATABASE:
        blobs.store(to)  # unreachable target: fail before moving anything
    moved = 0
    while True:
        with using(db):
            query = Blob.select(Blob.sha256).where(Blob.location != to)
            batch_ids = [blob.sha256 for blob in query.order_by(Blob.sha256).limit(batch)]
        if not batch_ids:
            break
        for sha256 in batch_ids:
            with using(db):
                row = Blob.select(Blob.data, Blob.location).where(Blob.sha256 == sha256).get()
            source = row.location
            raw = blobs.read(sha256, source, row.data)
            if to != DATABASE:
                blobs.store(to).put(sha256, raw)
            with write_transaction(db):
                changed = (
                    Blob.update(location=to, data=raw if to == DATABASE else b"")
                    .where((Blob.sha256 == sha256) & (Blob.location == source))
                    .execute()
                )
            if changed and source != DATABASE:
                blobs.store(source).delete(sha256)
            moved += changed
            if on_moved is not None:
                on_moved(sha256)
    with using(db):
        count = peewee.fn.COUNT(Blob.sha256).alias("blobs")
        counts = Blob.select(Blob.location, count).group_by(Blob.location)
        locations = {row.location: int(getattr(row, "blobs")) for row in counts}  # noqa: B009
    return Moved(to, moved, locations)


def insert_row(
    db: peewee.Database, sha256: str, data: bytes, created_at: dt.datetime, location: str
) -> None:
    """The `Blob` row of `data`, once per SHA-256 (the same bytes again: nothing).

    On SQLite, bytes kept in the row beyond BIG_VALUE are written into a zeroblob a
    chunk at a time (incremental blob I/O): bound as one value, SQLite copies them
    twice more (the bound value, then the record) before paging them out, which
    made a 25 MB message cost its size four times over at intake."""
    stored = data if location == DATABASE else b""
    if len(stored) <= BIG_VALUE or is_postgres(db):
        values = {
            "sha256": sha256,
            "size": len(data),
            "data": stored,
            "created_at": created_at,
            "location": location,
        }
        rows.insert(db, Blob, values, ignore=True)
        return
    table = Blob._meta.table_name
    cursor = db.execute_sql(
        f'INSERT INTO "{table}" ("sha256", "size", "data", "created_at", "location") '
        "VALUES (?, ?, zeroblob(?), ?, ?) ON CONFLICT DO NOTHING",
        (sha256, len(data), len(data), Blob.created_at.db_value(created_at), location),
    )
    if cursor.rowcount != 1:  # stored already
        return
    view = memoryview(data)
    with db.connection().blobopen(table, "data", cursor.lastrowid) as handle:
        for start in range(0, len(view), _CHUNK):
            handle.write(view[start : start + _CHUNK])
