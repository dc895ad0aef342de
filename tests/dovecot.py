"""A private Dovecot IMAP server on loopback, for tests that drive a real IMAP server.

Where it sits: test-only. `Dovecot` writes a small dovecot.conf into a temp dir
of its own (base_dir, state, log file, a passwd-file of users with plaintext
passwords, maildirs), picks free 127.0.0.1 ports and runs `dovecot -F` in the
foreground as a subprocess; `stop()`/`start()` restart it on the same ports.
Optionally it speaks implicit TLS on a second port (and STARTTLS on the plain
one) with a self-signed certificate made by the `openssl` CLI.

Dovecot refuses to run login and mail processes as root, so when the tests run
as root those run as `nobody`, which then owns the temp dir; run as any other
user, everything runs as that user. The system's Dovecot service, if any, is
never touched. Install the binary with `scripts/setup --test` (Debian package
`dovecot-imapd`).
"""

from __future__ import annotations

import contextlib
import email.parser
import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
START_TIMEOUT = 10.0


def available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""

    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this certificate only."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path) -> Certificate:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


class Dovecot:
    """One Dovecot instance with its own users and maildirs; `close()` removes it all."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        capability: str | None = None,
        certificate: Certificate | None = None,
    ) -> None:
        """`users` maps user name to password; `capability` replaces the advertised
        CAPABILITY list (to play a server without IDLE or MOVE)."""
        self.users = dict(users)
        self.port = free_port()
        self.tls_port = free_port() if certificate else None
        self.root = Path(tempfile.mkdtemp(prefix="maildesk-dovecot-"))
        self.log = self.root / "dovecot.log"
        self._conf = self.root / "dovecot.conf"
        self._process: subprocess.Popen[bytes] | None = None
        uid, gid = _mail_ids()
        (self.root / "passwd").write_text(
            "".join(f"{name}:{{PLAIN}}{password}::::::\n" for name, password in users.items())
        )
        self._conf.write_text(_config(self.root, self.port, self.tls_port, certificate,
                                      capability, uid, gid))  # fmt: skip
        (self.root / "mail").mkdir()
        if os.geteuid() == 0:
            for path in (self.root, self.root / "mail"):
                os.chown(path, uid, gid)

    def start(self) -> None:
        with (self.root / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self._conf)],
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group, for close()
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _greets(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not start on port {self.port}:\n{self.logs()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut down as an admin would (SIGTERM: clients are disconnected); takes ~1 s."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        _kill_group(process)  # children outlive the master for a moment

    def close(self) -> None:
        """Kill every process of the instance at once and remove its files."""
        process, self._process = self._process, None
        if process is not None:
            _kill_group(process)
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        texts = [p.read_text(errors="replace") for p in (self.root / "stderr.log", self.log)
                 if p.exists()]  # fmt: skip
        return "\n".join(texts)[-4000:]

    # ---- a mail client's view, for arranging and checking a test ----------

    def client(self, user: str) -> IMAPClient:
        """A logged-in plain-text connection (use it as a context manager)."""
        client = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(self, user: str, folder: str, *messages: bytes, flags: Iterable[bytes] = ()) -> None:
        with self.client(user) as client:
            for raw in messages:
                client.append(folder, raw, flags=tuple(flags))

    def messages(self, user: str, folder: str) -> dict[str, frozenset[bytes]]:
        """Message-ID -> flags of every message in `folder` (read-only: changes nothing)."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            header = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
            uids = client.search("ALL")
            found = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            result: dict[str, frozenset[bytes]] = {}
            for data in found.values():
                headers = email.parser.BytesHeaderParser().parsebytes(data[header])
                result[str(headers["Message-ID"]).strip()] = frozenset(data[b"FLAGS"])
            return result


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _mail_ids() -> tuple[int, int]:
    """Who the mail processes run as: Dovecot refuses root."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.getuid(), os.getgid()


def _config(
    root: Path,
    port: int,
    tls_port: int | None,
    certificate: Certificate | None,
    capability: str | None,
    uid: int,
    gid: int,
) -> str:
    me = pwd.getpwuid(os.geteuid()).pw_name
    login_user = "nobody" if os.geteuid() == 0 else me
    lines = [
        f"base_dir = {root}/run",
        f"state_dir = {root}/state",
        f"log_path = {root / 'dovecot.log'}",
        "protocols = imap",
        "listen = 127.0.0.1",
        "disable_plaintext_auth = no",
        "auth_mechanisms = plain login",
        f"default_internal_user = {me}",
        f"default_internal_group = {grp.getgrgid(os.getegid()).gr_name}",
        f"default_login_user = {login_user}",
        f"first_valid_uid = {uid}",
        f"first_valid_gid = {gid}",
        "mail_location = maildir:~/Maildir",
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN username_format=%u {root}/passwd",
        "}",
        "userdb {",
        "  driver = static",
        f"  args = uid={uid} gid={gid} home={root}/mail/%u",
        "}",
        "service imap-login {",
        "  inet_listener imap {",
        f"    port = {port}",
        "  }",
        "  inet_listener imaps {",
        f"    port = {tls_port or 0}",
        "  }",
    ]
    if os.geteuid() != 0:
        lines.append("  chroot =")  # only root can chroot
    lines.append("}")
    # No penalty and no delay after a failed login: tests retry wrong passwords on purpose.
    lines += ["auth_failure_delay = 0", "service anvil {",
              "  unix_listener anvil-auth-penalty {", "    mode = 0", "  }"]  # fmt: skip
    if os.geteuid() != 0:
        lines.append("  chroot =")
    lines.append("}")
    if certificate is None:
        lines.append("ssl = no")
    else:
        lines += ["ssl = yes", f"ssl_cert = <{certificate.cert}", f"ssl_key = <{certificate.key}"]
    if capability is not None:
        lines.append(f"imap_capability = {capability}")
    return "\n".join(lines) + "\n"


def _greets(port: int) -> bool:
    """Whether an IMAP server answers on the port with its greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            return conn.recv(64).startswith(b"* OK")
    except OSError:
        return False
