"""Where `maildesk ingest` reads messages from: files, directories, maildirs, mboxes, stdin.

Each source yields items of raw bytes (or a reason it could not be read); the
intake then commits them one by one. Nothing at all (an empty file, an empty
stdin, blank lines only) is no message: reported as an error, never stored.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MBOX_POSTMARK = b"From "
EMPTY = "empty: no message to take in"


@dataclass(frozen=True)
class RawItem:
    source: str  # what to call it in output: a path, "path#3" for the 3rd message of an mbox
    data: bytes | None  # None when it could not be read
    error: str | None = None


def read_sources(paths: Sequence[str], stdin: BinaryIO, max_size: int) -> Iterator[RawItem]:
    for name in paths:
        if name == "-":
            yield _read_stream("stdin", stdin, max_size)
            continue
        path = Path(name)
        if path.is_dir():
            yield from _read_directory(path, max_size)
        elif path.is_file():
            yield from _read_file(path, max_size)
        else:
            yield RawItem(name, None, "no such file or directory")


def _read_stream(label: str, stream: BinaryIO, max_size: int) -> RawItem:
    data = stream.read(max_size + 1)
    if len(data) > max_size:
        return RawItem(label, None, f"message larger than the limit of {max_size} bytes")
    if data.startswith(MBOX_POSTMARK):
        # An MTA's pipe may prepend the mbox "From sender date" line: not part of the message.
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return _item(label, data)


def _item(label: str, data: bytes) -> RawItem:
    return RawItem(label, data) if data.strip() else RawItem(label, None, EMPTY)


def _read_directory(path: Path, max_size: int) -> Iterator[RawItem]:
    if (path / "cur").is_dir() and (path / "new").is_dir():
        folders = [path / "new", path / "cur"]  # a maildir
    else:
        folders = [path]
    for folder in folders:
        for entry in sorted(folder.iterdir()):
            if entry.is_file() and not entry.name.startswith("."):
                yield from _read_file(entry, max_size)


def _read_file(path: Path, max_size: int) -> Iterator[RawItem]:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(MBOX_POSTMARK))
    except OSError as exc:
        yield RawItem(str(path), None, exc.strerror or str(exc))
        return
    if head == MBOX_POSTMARK:
        yield from _read_mbox(path, max_size)
        return
    try:
        size = path.stat().st_size
        if size > max_size:
            yield RawItem(str(path), None, f"message larger than the limit of {max_size} bytes")
            return
        yield _item(str(path), path.read_bytes())
    except OSError as exc:
        yield RawItem(str(path), None, exc.strerror or str(exc))


def _read_mbox(path: Path, max_size: int) -> Iterator[RawItem]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.keys(), start=1):
            label = f"{path}#{index}"
            data = box.get_bytes(key)
            if len(data) > max_size:
                yield RawItem(label, None, f"message larger than the limit of {max_size} bytes")
            else:
                yield _item(label, data)
    except OSError as exc:
        yield RawItem(str(path), None, exc.strerror or str(exc))
    finally:
        box.close()


def batched(items: Iterator[RawItem], max_count: int, max_bytes: int) -> Iterator[list[RawItem]]:
    """Readable items in batches of at most `max_count` messages and about `max_bytes`
    (one disk sync each); an unreadable item comes alone, in its place in the order."""
    batch: list[RawItem] = []
    size = 0
    for item in items:
        if item.data is None:
            if batch:
                yield batch
                batch, size = [], 0
            yield [item]
            continue
        if batch and (len(batch) >= max_count or size + len(item.data) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item.data)
    if batch:
        yield batch
