"""POST /api/tickets/{label}/messages as multipart/form-data: files stored as a mail's
attachments, with safe names, within the web's upload limit; through the test client
and through a real HTTP server on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from maildesk.store.models import Attachment, Message, Outbox
from maildesk.web.app import create_app
from maildesk.web.server import WebServer
from tests.api_support import bearer, check_answer, described, model_validator, two_desks
from tests.web_support import Site

LIMIT = 64 * 1024
PATH = "/api/tickets/{label}/messages"
URL = "/api/tickets/SUP-00001/messages"
HOSTILE = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/.hidden", "hidden"),
    ("CON", "_CON"),
    ("in\u202egnp.exe", "ingnp.exe"),
]


@pytest.fixture
def two(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with two_desks(tmp_path, database_url, f"\n[web]\nmax_upload_size = {LIMIT}\n") as running:
        yield running


def test_files_become_attachments_with_safe_names(two: Site) -> None:
    document = described(two)
    content = document["paths"][PATH]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = model_validator(document, "NewMessageForm")
    assert form.is_valid({"text": "x", "note": True}) and not form.is_valid({"note": True})
    assert "file" in document["components"]["schemas"]["NewMessageForm"]["properties"]

    ann = bearer(two, "ann@example.com")
    files = [("file", (name, name.encode() * 3, "text/plain")) for name, _ in HOSTILE]
    files.append(("file", ("scan.png", b"\x89PNG\r\n", 'image/png; x="y"')))
    answer = two.client.post(
        URL, data={"text": "See attached.", "note": "true"}, files=files, headers=ann
    )
    assert answer.status_code == 201, answer.text
    message = check_answer(document, PATH, "post", answer)["message"]
    assert message["kind"] == "note"
    stored = {a["filename"]: a for a in message["attachments"]}
    assert list(stored) == [safe for _, safe in HOSTILE] + ["scan.png"]
    for name, safe in HOSTILE:
        assert stored[safe]["sha256"] == hashlib.sha256(name.encode() * 3).hexdigest()
        assert "/" not in safe and "\\" not in safe and not safe.startswith(".")
    assert stored["scan.png"]["content_type"] == "image/png"
    assert Attachment.select().count() == len(HOSTILE) + 1
    assert Outbox.select().where(Outbox.purpose == "agent_reply").count() == 0  # a note

    reply = two.client.post(
        URL,
        data={"text": "Here is the manual."},
        files=[("file", ("manual.pdf", b"%PDF-1.4", "application/pdf"))],
        headers=ann,
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["message"]["kind"] == "agent"
    relayed = Outbox.get(Outbox.purpose == "agent_reply")
    assert relayed.recipients == ["carl@customer.test"]
    shown = two.client.get("/api/tickets/SUP-00001", headers=ann).json()
    assert [a["filename"] for a in shown["messages"][-1]["attachments"]] == ["manual.pdf"]


def test_oversized_and_malformed_forms_are_refused(two: Site) -> None:
    document = described(two)
    ann = bearer(two, "ann@example.com")
    before = Message.select().count()

    def post(data: dict[str, str], files: list | None = None, headers: dict[str, str] = ann) -> int:
        answer = two.client.post(
            URL,
            data=data,
            files=files or [("file", ("a.txt", b"a", "text/plain"))],
            headers=headers,
        )
        if answer.status_code in (400, 401, 404, 413):
            check_answer(document, PATH, "post", answer)
        return answer.status_code

    big = [("file", ("big.bin", b"x" * (LIMIT // 2 + 1), "application/octet-stream"))] * 2
    answer = two.client.post(URL, data={"text": "Two halves."}, files=big, headers=ann)
    assert answer.status_code == 413 and "too large" in answer.json()["error"]
    huge = [("file", ("huge.bin", b"x" * (LIMIT + 300 * 1024), "application/octet-stream"))]
    assert two.client.post(URL, data={"text": "x"}, files=huge, headers=ann).status_code == 413
    for data in (
        {"text": "x", "note": "maybe"},
        {"note": "true"},
        {"text": " "},
        {"text": "x", "colour": "red"},
        {"text": "x", "file": "not a file"},
    ):
        assert post(data) == 400, data
    as_file = [("text", ("t.txt", b"x", "text/plain"))]
    assert post({}, as_file) == 400
    twice = two.client.post(URL, content=multipart({"text": ["a", "b"]}), headers=ann | MULTIPART)
    assert twice.status_code == 400 and "more than once" in twice.json()["error"]
    broken = two.client.post(URL, content=b"--nope\r\n\r\n", headers=ann | MULTIPART)
    assert broken.status_code == 400
    assert post({"text": "x"}, headers={}) == 401
    assert (
        two.client.post(
            "/api/tickets/BIL-00002/messages",
            data={"text": "x"},
            files=[("file", ("a.txt", b"a", "text/plain"))],
            headers=ann,
        ).status_code
        == 404
    )
    assert Message.select().count() == before and Attachment.select().count() == 0


BOUNDARY = "b" + uuid.uuid4().hex
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart(fields: dict[str, list[str]], files: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    """A multipart/form-data body written by hand (repeated fields, raw names)."""
    parts = []
    for name, values in fields.items():
        for value in values:
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
            parts.append(f"--{BOUNDARY}\r\n{head}{value}\r\n".encode())
    for filename, data in files:
        head = (
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        )
        parts.append(f"--{BOUNDARY}\r\n{head}".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


@contextmanager
def served(s: Site) -> Iterator[int]:
    """The site's app behind uvicorn on 127.0.0.1, port 0, in a thread; its port."""
    ports: queue.Queue[int] = queue.Queue()
    stop = threading.Event()

    async def run() -> None:
        server = WebServer(create_app(s.web), "127.0.0.1", 0)
        address = await server.start()
        ports.put(int(address.rpartition(":")[2]))
        for _ in range(600):  # at most a minute
            if stop.is_set():
                break
            await asyncio.sleep(0.1)
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    try:
        yield ports.get(timeout=20)
    finally:
        stop.set()
        thread.join(timeout=20)


def test_files_over_a_real_http_server(two: Site) -> None:
    token = bearer(two, "ann@example.com")
    with served(two) as port:
        body = multipart(
            {"text": ["Logs attached."], "note": ["true"]}, (("../logs/app.log", b"line 1\n"),)
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{URL}", data=body, headers=token | MULTIPART, method="POST"
        )
        with urllib.request.urlopen(request, timeout=20) as answer:
            assert answer.status == 201
            document = json.loads(answer.read())
        assert [a["filename"] for a in document["message"]["attachments"]] == ["app.log"]

        # A declared body past the limit is refused before a byte of it is read.
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            head = (
                f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\n{MULTIPART_HEADER}\r\n"
                f"Authorization: {token['Authorization']}\r\nContent-Length: 3000000000\r\n\r\n"
            )
            sock.sendall(head.encode())
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]
    assert Attachment.select().count() == 1


MULTIPART_HEADER = f"Content-Type: {MULTIPART['Content-Type']}"
