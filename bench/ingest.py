#!/usr/bin/env python3
"""Ingest benchmark for maildesk: parse-only baseline vs the real `maildesk ingest` CLI.

Run it with the project's virtualenv (``.venv/bin/python bench/ingest.py`` or
``bench/ingest``); see bench/README.md. In one run it

1. generates a deterministic mixed corpus (plain, multipart/alternative, HTML
   only, attachments up to 200 KB, RFC 2047 headers in several charsets, replies
   that thread into earlier tickets) into a temporary directory;
2. measures (a) a compat32 parse-and-decode baseline and (b) `maildesk ingest` of the
   same directory into a fresh SQLite database (subprocess, end to end), and
   checks every message landed where expected;
3. repeats (b) on a database pre-filled with 100,000 tickets;
4. measures peak memory of ingesting a ~25 MB text, HTML-only and attachment-heavy
   message, each in a clean subprocess.

Machines are noisy: only the ratios printed within one run are meaningful.
Exit status: 0 all targets met, 1 a target was missed, 2 something broke
(a command failed, a message did not land where expected, ...).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import email
import email.policy
import email.utils
import gc
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from common import (
    DESK_ADDRESS,
    EXIT_BROKEN,
    EXIT_OK,
    EXIT_TARGET_MISSED,
    BenchError,
    Row,
    add_seed_and_workdir,
    bulk_insert,
    clean_env,
    maildesk_executable,
    mib,
    proc_status_kib,
    say,
    timed,
    verdict,
)

# -- targets -----------------------------------------------------------------------------

TARGET_EMPTY_RATIO = 0.5  # (b)/(a) by CPU time: ingest into an empty database vs parse
TARGET_SCALE_RATIO = 0.8  # (c)/(b): ingest into a 100k-ticket database vs empty
TARGET_MEMORY_FACTOR = 6.0  # (peak - idle) / raw for each ~25 MB message

PREFIX = "SUP"
MAX_MESSAGE_SIZE = 26_214_400  # maildesk's default smtp.max_message_size
MEMORY_MESSAGE_TARGET = 25_000_000  # bytes of the big message (stays under the limit)
MAX_ATTACHMENT = 200 * 1024
BASE_DATE = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)

# -- corpus ------------------------------------------------------------------------------

# Display names per charset: (display name, ASCII local part).
NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "us-ascii": (
        ("Alice Smith", "alice.smith"),
        ("Bob Jones", "bob.jones"),
        ("Carol White", "carol.white"),
        ("Dave Miller", "dave.miller"),
        ("Erin Clark", "erin.clark"),
        ("Frank Moore", "frank.moore"),
    ),
    "utf-8": (
        ("Zoë Çelik", "zoe.celik"),
        ("Ngô Bảo Châu", "ngo.bao.chau"),
        ("Søren Kierkegård", "soren.k"),
        ("Ana Łopuszańska ✓", "ana.lopuszanska"),
    ),
    "iso-8859-1": (
        ("José Núñez", "jose.nunez"),
        ("François Dupré", "francois.dupre"),
        ("Björn Ågren", "bjorn.agren"),
        ("Jürgen Müller", "juergen.mueller"),
    ),
    "iso-8859-2": (
        ("Łukasz Wiśniewski", "lukasz.wisniewski"),
        ("Antonín Dvořák", "antonin.dvorak"),
        ("Zofia Gąsiorowska", "zofia.gasiorowska"),
    ),
    "koi8-r": (
        ("Иван Петров", "ivan.petrov"),
        ("Мария Смирнова", "maria.smirnova"),
        ("Олег Кузнецов", "oleg.kuznetsov"),
    ),
    "shift_jis": (
        ("山田 太郎", "taro.yamada"),
        ("佐藤 花子", "hanako.sato"),
        ("鈴木 一郎", "ichiro.suzuki"),
    ),
}
SUBJECTS: dict[str, tuple[str, ...]] = {
    "us-ascii": (
        "Cannot log in to my account",
        "Invoice 2026-0042 looks wrong",
        "Export to CSV fails with an error",
        "How do I change the billing address?",
        "Password reset mail never arrives",
        "Feature request: dark mode",
    ),
    "utf-8": (
        "Zahlung fehlgeschlagen – bitte prüfen",
        "Problème de connexion à l’application",
        "Lỗi khi xuất hóa đơn",
        "Bestellung #4711: Lieferung verspätet ✓",
    ),
    "iso-8859-1": (
        "Grüße aus Köln: Rechnung fehlt",
        "Problème de facturation",
        "Contraseña olvidada, ¿qué hago?",
        "Fråga om abonnemanget",
    ),
    "iso-8859-2": (
        "Zażółć gęślą jaźń: błąd logowania",
        "Faktura nie dotarła",
        "Problém s přihlášením",
    ),
    "koi8-r": (
        "Проблема с оплатой",
        "Не могу войти в аккаунт",
        "Вопрос по счёту",
    ),
    "shift_jis": (
        "請求書について",
        "ログインできません",
        "解約の手続きについて",
    ),
}
PHRASES: dict[str, tuple[str, ...]] = {
    "us-ascii": ("Thanks for your help.", "Kind regards.", "Please advise."),
    "utf-8": ("Vielen Dank für Ihre Hilfe!", "Merci d’avance.", "Cảm ơn bạn rất nhiều."),
    "iso-8859-1": ("Vielen Dank für Ihre Hilfe.", "Muchas gracias, señor.", "Hälsningar."),
    "iso-8859-2": ("Z góry dziękuję.", "Děkuji za odpověď.", "Pozdrawiam serdecznie."),
    "koi8-r": ("Заранее спасибо.", "С уважением.", "Жду ответа."),
    "shift_jis": ("よろしくお願いします。", "ご確認ください。", "ありがとうございます。"),
}
CHARSET_WEIGHTS = (
    ("us-ascii", 45),
    ("utf-8", 20),
    ("iso-8859-1", 12),
    ("iso-8859-2", 7),
    ("koi8-r", 6),
    ("shift_jis", 10),
)
WORDS = tuple(
    " ".join(
        (
            "account invoice order payment login error export report screen browser update",
            "customer subscription plan refund delivery address password email server page",
            "button settings team project file upload download week yesterday today again",
            "please could would should after before when while because since still never",
            "the a an and or but with without from into onto over under about this that",
        )
    ).split()
)
DOMAINS = (
    "customer.example",
    "acme.example",
    "mail.example.org",
    "kunde.example.de",
    "firma.example.pl",
    "shop.example.jp",
    "pochta.example.ru",
)
ATTACHMENT_TYPES = (
    ("application", "pdf", "invoice.pdf"),
    ("image", "png", "screenshot.png"),
    ("image", "jpeg", "photo.jpg"),
    ("application", "zip", "logs.zip"),
    ("application", "octet-stream", "Rechnung-März.bin"),
    ("application", "pdf", "請求書.pdf"),
)


class PreEncoded(str):
    """A header value already in RFC 2047 form (and folded): written out verbatim."""


class BenchPolicy(email.policy.EmailPolicy):
    """email.policy.default, except that PreEncoded header values are kept as they are.

    The default policy decodes encoded words and re-encodes them as utf-8 on
    output; the corpus wants iso-8859-1, shift_jis, ... on the wire.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, PreEncoded):
            return (name, str(value))
        return super().header_store_parse(name, value)


POLICY = BenchPolicy(refold_source="none")


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    charset: str


@dataclass
class Thread:
    number: int  # the ticket number maildesk is expected to give it
    sender: Identity
    subject: str
    message_ids: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    directory: Path
    paths: list[Path]
    expected: list[tuple[str, str]]  # (action, ticket label) per message, in file order
    total_bytes: int
    kinds: dict[str, int]

    @property
    def count(self) -> int:
        return len(self.paths)

    @property
    def created(self) -> int:
        return sum(1 for action, _ in self.expected if action == "created")


def label(number: int) -> str:
    return f"{PREFIX}-{number:05d}"


def encoded(text: str, charset: str, header_name: str) -> str | PreEncoded:
    """`text` as the header value a mail client using `charset` would write."""
    if charset == "us-ascii":
        return text
    return PreEncoded(Header(text, charset, header_name=header_name).encode(maxlinelen=76))


def encoded_reply_subject(tag: str, subject: str, charset: str) -> str | PreEncoded:
    """`Re: [SUP-00042] subject`: the ASCII prefix literal, the rest in `charset`."""
    if charset == "us-ascii":
        return f"Re: {tag} {subject}"
    header = Header(f"Re: {tag}", "us-ascii", header_name="Subject")
    header.append(subject, charset)
    return PreEncoded(header.encode(maxlinelen=76))


def encoded_address(identity: Identity) -> str | PreEncoded:
    if identity.charset == "us-ascii":
        return email.utils.formataddr((identity.name, identity.email))
    name = Header(identity.name, identity.charset, header_name="From").encode(maxlinelen=76)
    return PreEncoded(f"{name}\n <{identity.email}>")


def paragraphs(rng: random.Random, charset: str, count: int) -> list[str]:
    out = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(25, 90))]
        text = " ".join(words).capitalize() + ". " + rng.choice(PHRASES[charset])
        lines, line = [], ""
        for word in text.split(" "):
            if len(line) + len(word) > 70:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        out.append("\n".join(lines))
    return out


def html_of(paras: Sequence[str], name: str) -> str:
    body = "".join(f"<p>{p.replace(chr(10), ' ')}</p>\n" for p in paras)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{margin:0 0 1em}'
        "</style></head><body>\n"
        f"{body}<table><tr><td><b>{name}</b></td></tr><tr><td>Sent from my mail client"
        "</td></tr></table></body></html>\n"
    )


def build_message(
    rng: random.Random,
    index: int,
    id_tag: str,
    sender: Identity,
    subject_value: str | PreEncoded,
    body_intro: str,
    thread_ids: Sequence[str],
    kinds: dict[str, int],
) -> tuple[bytes, str]:
    """One message; returns its bytes and its Message-ID."""
    domain = sender.email.rsplit("@", 1)[1]
    who = hashlib.sha1(sender.email.encode()).hexdigest()[:8]
    message_id = f"<{id_tag}.{index:06d}.{who}@{domain}>"
    msg = EmailMessage(policy=POLICY)
    msg["From"] = encoded_address(sender)
    msg["To"] = DESK_ADDRESS
    if not thread_ids and rng.random() < 0.08:
        msg["Cc"] = f"colleague.{index}@{domain}"
    msg["Subject"] = subject_value
    msg["Date"] = email.utils.format_datetime(BASE_DATE + dt.timedelta(minutes=3 * index))
    msg["Message-ID"] = message_id
    if thread_ids:
        msg["In-Reply-To"] = thread_ids[-1]
        msg["References"] = " ".join(thread_ids[-10:])
    body_charset = "utf-8" if sender.charset == "us-ascii" else sender.charset
    paras = [body_intro, *paragraphs(rng, sender.charset, rng.randint(1, 5))]
    text = "\n\n".join(paras) + f"\n\n-- \n{sender.name}\n"
    roll = rng.random()
    alternative = roll < 0.30 or (roll >= 0.70 and rng.random() < 0.5)
    html_only = 0.30 <= roll < 0.45
    if html_only:  # what many webmail and marketing clients send: no text/plain part
        msg.set_content(html_of(paras, sender.name), subtype="html", charset=body_charset)
    else:
        msg.set_content(text, charset=body_charset)
    if alternative:
        msg.add_alternative(html_of(paras, sender.name), subtype="html")
    if roll >= 0.70:
        for _ in range(rng.randint(1, 3)):
            maintype, subtype, filename = rng.choice(ATTACHMENT_TYPES)
            data = rng.randbytes(rng.randint(1024, MAX_ATTACHMENT))
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        kinds["with attachments"] += 1
    elif alternative:
        kinds["multipart/alternative"] += 1
    elif html_only:
        kinds["HTML only"] += 1
    else:
        kinds["text/plain"] += 1
    if sender.charset != "us-ascii":
        kinds[f"headers in {sender.charset}"] += 1
    return msg.as_bytes(), message_id


def generate_corpus(
    directory: Path, count: int, seed: int, id_tag: str, number_offset: int
) -> Corpus:
    """`count` messages as NNNNNN.eml (maildesk ingests a directory in sorted order).

    About 30% are replies from a ticket's requester to one of their earlier
    tickets (In-Reply-To/References and the `[SUP-NNNNN]` subject tag); the k-th
    opening message is expected to become ticket number_offset + k.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    charsets = [c for c, _ in CHARSET_WEIGHTS]
    weights = [w for _, w in CHARSET_WEIGHTS]
    pool_size = max(10, count // 3)
    people: list[Identity] = []
    for k in range(pool_size):
        charset = rng.choices(charsets, weights)[0]
        name, local = rng.choice(NAMES[charset])
        people.append(Identity(name, f"{local}.{k}@{rng.choice(DOMAINS)}", charset))
    threads: list[Thread] = []
    kinds: dict[str, int] = {
        "text/plain": 0,
        "multipart/alternative": 0,
        "HTML only": 0,
        "with attachments": 0,
        "replies": 0,
    }
    for charset in charsets[1:]:
        kinds[f"headers in {charset}"] = 0
    paths: list[Path] = []
    expected: list[tuple[str, str]] = []
    total = 0
    for index in range(count):
        if threads and rng.random() < 0.30:
            thread = rng.choice(threads)
            sender = thread.sender
            tag = f"[{label(thread.number)}]"
            subject_value = encoded_reply_subject(tag, thread.subject, sender.charset)
            intro = f"Any news on this? {rng.choice(PHRASES[sender.charset])}"
            raw, message_id = build_message(
                rng, index, id_tag, sender, subject_value, intro, thread.message_ids, kinds
            )
            expected.append(("appended", label(thread.number)))
            kinds["replies"] += 1
        else:
            sender = rng.choice(people)
            subject = rng.choice(SUBJECTS[sender.charset])
            thread = Thread(number_offset + len(threads) + 1, sender, subject)
            threads.append(thread)
            subject_value = encoded(subject, sender.charset, "Subject")
            intro = f"Hello support, {rng.choice(PHRASES[sender.charset])}"
            raw, message_id = build_message(
                rng, index, id_tag, sender, subject_value, intro, (), kinds
            )
            expected.append(("created", label(thread.number)))
        thread.message_ids.append(message_id)
        path = directory / f"{index:06d}.eml"
        path.write_bytes(raw)
        paths.append(path)
        total += len(raw)
    return Corpus(directory, paths, expected, total, kinds)


# -- (a) the parse-only baseline ---------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # CPU seconds (user + system) of the process doing the work

    def rate(self, count: int) -> float:
        return count / self.wall

    def cpu_rate(self, count: int) -> float:
        return count / self.cpu


def parse_only(raws: Sequence[bytes]) -> Timing:
    """The cheapest honest parse of the same messages: no storage, no threading.

    The stdlib parser with its compat32 policy (the one maildesk builds on, about
    twice as fast as `email.policy.default`), every leaf part's transfer encoding
    undone (`get_payload(decode=True)`: base64 attachments, quoted-printable
    bodies) and every text part decoded from its charset to str.
    """
    start, cpu = time.perf_counter(), time.process_time()
    for raw in raws:
        msg = email.message_from_bytes(raw)
        for part in msg.walk():
            if part.is_multipart():
                continue
            data = part.get_payload(decode=True)
            if part.get_content_maintype() == "text" and isinstance(data, bytes):
                charset = part.get_content_charset() or "us-ascii"
                data.decode(charset, "replace")
    return Timing(time.perf_counter() - start, time.process_time() - cpu)


def mean_timing(*timings: Timing) -> Timing:
    return Timing(
        sum(t.wall for t in timings) / len(timings), sum(t.cpu for t in timings) / len(timings)
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- (b), (c) the real CLI ----------------------------------------------------------------


def write_config(directory: Path, db_path: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "maildesk.toml"
    path.write_text(
        "# written by bench/ingest\n"
        "[database]\n"
        f'url = "sqlite:///{db_path}"\n'
        "\n[outbound]\n"
        f'maildir = "{directory / "outbox"}"\n',
        encoding="utf-8",
    )
    return path


def run_maildesk(
    args: Sequence[str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(maildesk_executable()), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class IngestRun:
    timing: Timing  # cpu: of the maildesk subprocess
    problems: list[str]


def timed_ingest(config: Path, corpus: Corpus, cwd: Path) -> IngestRun:
    """`maildesk ingest --json` of the corpus directory, timed end to end, then checked."""
    timeout = 300 + 2.0 * corpus.count
    start, cpu = time.perf_counter(), children_cpu()
    result = run_maildesk(
        ["ingest", "--json", "--config", str(config), str(corpus.directory)], cwd, timeout
    )
    timing = Timing(time.perf_counter() - start, children_cpu() - cpu)
    problems: list[str] = []
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        problems.append(f"maildesk ingest exited {result.returncode}: {' | '.join(tail)}")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if len(lines) != corpus.count:
        problems.append(f"ingest reported {len(lines)} messages, expected {corpus.count}")
    mismatches = [
        (Path(line["source"]).name, line["action"], line["ticket"], want)
        for line, want in zip(lines, corpus.expected, strict=False)
        if (line["action"], line["ticket"]) != want
    ]
    if mismatches:
        shown = "; ".join(
            f"{name}: {action} {ticket}, expected {want[0]} {want[1]}"
            for name, action, ticket, want in mismatches[:5]
        )
        problems.append(f"{len(mismatches)} messages did not land as expected: {shown}")
        reasons: dict[str, int] = {}
        for line in lines:
            if line["action"] not in ("created", "appended"):
                reasons[f"{line['action']}: {line['reason']}"] = (
                    reasons.get(f"{line['action']}: {line['reason']}", 0) + 1
                )
        for reason, n in sorted(reasons.items(), key=lambda item: -item[1])[:5]:
            problems.append(f"  {n} x {reason}")
    return IngestRun(timing, problems)


def check_ticket_list(config: Path, cwd: Path, corpus: Corpus, min_number: int) -> list[str]:
    """`maildesk tickets list --json`: the tickets numbered above `min_number` are exactly
    the ones the corpus was expected to open."""
    result = run_maildesk(
        ["tickets", "list", "--json", "--limit", "10000", "--config", str(config)], cwd, 300
    )
    if result.returncode != 0:
        return [f"maildesk tickets list exited {result.returncode}: {result.stderr.strip()}"]
    rows = json.loads(result.stdout)
    if not isinstance(rows, list):
        return ["maildesk tickets list --json did not return a JSON array"]
    got = {r["number"] for r in rows if int(r["number"].split("-", 1)[1]) > min_number}
    want = {t for action, t in corpus.expected if action == "created"}
    if len(want) > 10_000:
        return []  # the listing is capped at 10,000; the per-message check covered it
    if got != want:
        return [
            f"tickets list: {len(got)} new tickets, expected {len(want)} "
            f"(missing {sorted(want - got)[:5]}, unexpected {sorted(got - want)[:5]})"
        ]
    return []


# -- (c) a database with 100,000 tickets ------------------------------------------------


def prefill(db_path: Path, tickets: int, seed: int) -> dict[str, int]:
    """Fill a fresh database with `tickets` tickets (numbers 1..tickets) and their
    contacts, requesters, first messages, intake rows and `created` events; the
    ticket counter is left at `tickets`. Returns the row counts."""
    import peewee

    from maildesk.store.db import open_database, upgrade, write_transaction
    from maildesk.store.models import (
        Blob,
        Contact,
        Counter,
        Event,
        Intake,
        Message,
        Participant,
        Ticket,
    )

    rng = random.Random(seed)
    from maildesk.store.fields import JSONTextField, UTCDateTimeField

    converted = (UTCDateTimeField, JSONTextField, peewee.BooleanField)
    db = open_database(f"sqlite:///{db_path}")
    upgrade(db)
    db.execute_sql("PRAGMA cache_size = -262144")  # 256 MiB for this filling connection only
    contacts = max(1, tickets // 4)
    start = BASE_DATE - dt.timedelta(days=800)
    statuses = ("new", "open", "in_progress", "waiting_on_customer", "resolved", "closed")
    status_weights = (5, 10, 5, 10, 20, 50)
    raw = b"From: someone@scale.example\nSubject: prefilled\n\nprefilled ticket\n"
    sha = hashlib.sha256(raw).hexdigest()

    def insert(model: Any, fields: Sequence[Any], rows: Iterable[tuple[Any, ...]]) -> int:
        return bulk_insert(db, model, fields, rows, converted)

    def pk(model: Any) -> Any:
        """The implicit `id` primary key of a model (peewee adds it at class creation)."""
        return model._meta.primary_key

    def when(number: int) -> dt.datetime:
        return start + dt.timedelta(seconds=number * 600)

    requester = [rng.randrange(contacts) + 1 for _ in range(tickets)]
    status = rng.choices(statuses, status_weights, k=tickets)
    body = " ".join(rng.choice(WORDS) for _ in range(60))
    counts: dict[str, int] = {}
    with write_transaction(db):
        Blob.insert(sha256=sha, size=len(raw), data=raw, created_at=start).execute()
        counts["contact"] = insert(
            Contact,
            (pk(Contact), Contact.email, Contact.name, Contact.created_at),
            (
                (c, f"customer{c:06d}@scale.example", f"Customer {c}", start)
                for c in range(1, contacts + 1)
            ),
        )
        counts["ticket"] = insert(
            Ticket,
            (
                pk(Ticket),
                Ticket.number,
                Ticket.subject,
                Ticket.status,
                Ticket.priority,
                Ticket.requester,
                Ticket.created_at,
                Ticket.updated_at,
                Ticket.resolved_at,
                Ticket.closed_at,
            ),
            (
                (
                    n,
                    n,
                    f"Prefilled ticket {n}",
                    status[n - 1],
                    "medium",
                    requester[n - 1],
                    when(n),
                    when(n) + dt.timedelta(hours=2),
                    when(n) + dt.timedelta(hours=1)
                    if status[n - 1] in ("resolved", "closed")
                    else None,
                    when(n) + dt.timedelta(hours=2) if status[n - 1] == "closed" else None,
                )
                for n in range(1, tickets + 1)
            ),
        )
        counts["participant"] = insert(
            Participant,
            (pk(Participant), Participant.ticket, Participant.contact, Participant.role),
            ((n, n, requester[n - 1], "requester") for n in range(1, tickets + 1)),
        )
        counts["intake"] = insert(
            Intake,
            (
                pk(Intake),
                Intake.raw,
                Intake.dedupe_key,
                Intake.message_id,
                Intake.source,
                Intake.envelope_to,
                Intake.received_at,
                Intake.state,
                Intake.action,
                Intake.reason,
                Intake.ticket,
                Intake.processed_at,
            ),
            (
                (
                    n,
                    sha,
                    hashlib.sha256(f"mid:<scale.{n}@scale.example>".encode()).hexdigest(),
                    f"<scale.{n}@scale.example>",
                    "bench-prefill",
                    [],
                    when(n),
                    "processed",
                    "created",
                    "no matching ticket",
                    n,
                    when(n),
                )
                for n in range(1, tickets + 1)
            ),
        )
        counts["message"] = insert(
            Message,
            (
                pk(Message),
                Message.ticket,
                Message.intake,
                Message.message_id,
                Message.direction,
                Message.in_reply_to,
                Message.references,
                Message.kind,
                Message.from_email,
                Message.from_name,
                Message.to,
                Message.cc,
                Message.subject,
                Message.body_text,
                Message.sent_at,
                Message.created_at,
            ),
            (
                (
                    n,
                    n,
                    n,
                    f"<scale.{n}@scale.example>",
                    "inbound",
                    [],
                    [],
                    "customer",
                    f"customer{requester[n - 1]:06d}@scale.example",
                    f"Customer {requester[n - 1]}",
                    [DESK_ADDRESS],
                    [],
                    f"Prefilled ticket {n}",
                    body,
                    when(n),
                    when(n),
                )
                for n in range(1, tickets + 1)
            ),
        )
        counts["event"] = insert(
            Event,
            (pk(Event), Event.ticket, Event.at, Event.actor, Event.type, Event.data),
            (
                (
                    n,
                    n,
                    when(n),
                    f"customer{requester[n - 1]:06d}@scale.example",
                    "created",
                    {"subject": f"Prefilled ticket {n}", "source": "bench-prefill"},
                )
                for n in range(1, tickets + 1)
            ),
        )
        Counter.update(value=tickets).where(Counter.name == "ticket_number").execute()
    db.close()
    return counts


# -- memory ------------------------------------------------------------------------------


MEMORY_KINDS = ("text", "HTML only", "attachments")


def big_paragraphs(rng: random.Random, target: int) -> list[str]:
    """Numbered paragraphs of about `target` characters in all (a pool of 500 reused)."""
    pool = paragraphs(rng, "us-ascii", 500)
    out: list[str] = []
    total = 0
    while total < target:
        para = f"{len(out) + 1}. {pool[len(out) % len(pool)]}"
        out.append(para)
        total += len(para) + 2
    return out


def build_big_message(kind: str, target: int, seed: int) -> bytes:
    """One message of about `target` bytes: a plain text body (`text`), an HTML body
    and nothing else (`HTML only`), or a short text and four base64 attachments
    (`attachments`)."""
    rng = random.Random(seed)
    msg = EmailMessage()
    msg["From"] = "Big Sender <big.sender@customer.example>"
    msg["To"] = DESK_ADDRESS
    msg["Subject"] = f"Big message ({kind}), as requested"
    msg["Date"] = email.utils.format_datetime(BASE_DATE)
    msg["Message-ID"] = f"<bench-memory.{kind.replace(' ', '-')}@customer.example>"
    if kind == "text":
        msg.set_content("\n\n".join(big_paragraphs(rng, target - 2_000)) + "\n")
        return msg.as_bytes()
    if kind == "HTML only":
        paras = big_paragraphs(rng, target - 2_000 - 12 * (target // 400))
        msg.set_content(html_of(paras, "Big Sender"), subtype="html")
        return msg.as_bytes()
    text = "\n\n".join(paragraphs(rng, "us-ascii", 400))
    msg.set_content(text)
    # base64 with 76-character lines: 4/3 * 77/76 bytes on the wire per byte.
    attachment_bytes = int((target - len(text) - 2_000) / (4 / 3 * 77 / 76))
    parts = 4
    for i in range(parts):
        data = rng.randbytes(attachment_bytes // parts)
        msg.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=f"disk-{i}.img"
        )
    return msg.as_bytes()


def build_warmup_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Warm Up <warm.up@customer.example>"
    msg["To"] = DESK_ADDRESS
    msg["Subject"] = "Warm-up"
    msg["Date"] = email.utils.format_datetime(BASE_DATE)
    msg["Message-ID"] = "<bench-memory.warmup@customer.example>"
    msg.set_content("A small message so lazy imports and caches are loaded before idle.\n")
    msg.add_alternative("<p>A small message</p>", subtype="html")
    msg.add_attachment(
        b"\x00" * 4096, maintype="application", subtype="octet-stream", filename="small.bin"
    )
    return msg.as_bytes()


def memory_child(config: str, warmup: str, big: str) -> None:
    """Runs in a fresh interpreter: prints one JSON object with the readings (bytes)."""
    from maildesk.config import load_config
    from maildesk.pipeline.ingest import open_runtime

    runtime = open_runtime(load_config(Path(config), environ={}))
    warm = runtime.ingest(Path(warmup).read_bytes(), source="bench")
    gc.collect()
    idle = proc_status_kib("VmRSS") * 1024
    hwm_before = proc_status_kib("VmHWM") * 1024
    try:  # reset VmHWM to the current RSS (Linux >= 4.0), so the peak is this phase's own
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        reset = True
    except OSError:
        reset = False
    raw = Path(big).read_bytes()
    outcome = runtime.ingest(raw, source="bench")
    peak = proc_status_kib("VmHWM") * 1024
    after = proc_status_kib("VmRSS") * 1024
    runtime.close()
    print(
        json.dumps(
            {
                "idle": idle,
                "hwm_before": hwm_before,
                "hwm_reset": reset,
                "peak": peak,
                "after": after,
                "size": len(raw),
                "warmup_action": warm.action,
                "action": outcome.action,
                "reason": outcome.reason,
            }
        )
    )


@dataclass
class MemoryResult:
    size: int
    idle: int
    peak: int
    factor: float  # (peak - idle - size) / size
    factor_with_raw: float  # (peak - idle) / size
    notes: list[str]


def measure_memory(work: Path, seed: int, kind: str) -> MemoryResult:
    directory = work / f"memory-{kind.replace(' ', '-')}"
    config = write_config(directory, directory / "maildesk.db")
    big = build_big_message(kind, MEMORY_MESSAGE_TARGET, seed)
    if len(big) >= MAX_MESSAGE_SIZE:
        raise BenchError(f"big message is {len(big)} bytes, over the {MAX_MESSAGE_SIZE} limit")
    (directory / "big.eml").write_bytes(big)
    (directory / "warmup.eml").write_bytes(build_warmup_message())
    del big
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-child",
            str(config),
            str(directory / "warmup.eml"),
            str(directory / "big.eml"),
        ],
        cwd=directory,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-5:])
        raise BenchError(f"memory subprocess exited {result.returncode}: {tail}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    notes = []
    if data["action"] != "created" or data["warmup_action"] != "created":
        raise BenchError(
            f"memory subprocess: big message {data['action']} ({data['reason']}), "
            f"warm-up {data['warmup_action']}; expected both created"
        )
    if not data["hwm_reset"]:
        notes.append("could not reset VmHWM; peak may include start-up")
    size, idle, peak = data["size"], data["idle"], data["peak"]
    return MemoryResult(size, idle, peak, (peak - idle - size) / size, (peak - idle) / size, notes)


# -- profile -----------------------------------------------------------------------------


def profile_ingest(work: Path, corpus: Corpus, top: int) -> str:
    """cProfile of an in-process ingest loop over the corpus into a fresh database."""
    from maildesk.config import load_config
    from maildesk.pipeline.ingest import open_runtime

    directory = work / "profile"
    config = write_config(directory, directory / "maildesk.db")
    runtime = open_runtime(load_config(config, environ={}))
    raws = [p.read_bytes() for p in corpus.paths]
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for raw in raws:
        runtime.ingest(raw, source="bench")
    profiler.disable()
    seconds = time.perf_counter() - start
    runtime.close()
    out = io.StringIO()
    out.write(f"in-process ingest of {len(raws)} messages under cProfile: {seconds:.2f} s\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- reporting ---------------------------------------------------------------------------


def fs_type(path: Path) -> str:
    """The filesystem type of `path` from /proc/mounts (fsync cost depends on it)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return kind
    resolved = str(path.resolve())
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and resolved.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def describe(timing: Timing, count: int) -> str:
    return (
        f"{timing.wall:.2f} s = {timing.rate(count):.1f} msg/s "
        f"(CPU {timing.cpu:.2f} s = {timing.cpu_rate(count):.1f} msg/s)"
    )


def drift_note(before: Timing, after: Timing) -> None:
    """Warn when the baseline moved a lot: the machine's speed changed under the run."""
    drift = after.wall / before.wall - 1
    if abs(drift) > 0.15:
        say(f"  note: the baseline moved {drift:+.0%} between passes: the machine is noisy;")
        say("        compare the CPU-time and drift-normalised ratios, or run again")


# -- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/ingest",
        description="Benchmark maildesk ingest against a parse-only baseline "
        "(see bench/README.md).",
    )
    parser.add_argument(
        "--messages", type=int, default=1000, metavar="N", help="messages per corpus (default 1000)"
    )
    parser.add_argument(
        "--scale-tickets",
        type=int,
        default=100_000,
        metavar="N",
        help="tickets pre-filled for the scale run (default 100000)",
    )
    parser.add_argument("--skip-scale", action="store_true", help="skip the scale run")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory run")
    add_seed_and_workdir(parser, 20260302, "corpus seed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile an in-process ingest loop (cProfile) and print it",
    )
    parser.add_argument(
        "--memory-child", nargs=3, metavar=("CONFIG", "WARMUP", "BIG"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.messages < 10:
        parser.error("--messages must be at least 10")
    if args.scale_tickets < 1:
        parser.error("--scale-tickets must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return EXIT_OK
    work = Path(tempfile.mkdtemp(prefix="maildesk-bench-", dir=args.workdir))
    try:
        return run(args, work)
    except BenchError as exc:
        say(f"\nBROKEN: {exc}")
        return EXIT_BROKEN
    except subprocess.TimeoutExpired as exc:
        say(f"\nBROKEN: timed out after {exc.timeout:.0f} s: {' '.join(map(str, exc.cmd))}")
        return EXIT_BROKEN
    finally:
        if args.keep:
            say(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    started = time.perf_counter()
    say("maildesk ingest benchmark")
    say(
        f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"peewee {importlib.metadata.version('peewee')}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    )
    say(f"  work dir {work} ({fs_type(work)}); SQLite durable commits (WAL, synchronous=FULL)")
    say("  only ratios within this run are meaningful; absolute rates vary between runs")
    rows: list[Row] = []
    broken: list[str] = []

    say(f"\n[1] corpus: {args.messages} messages, seed {args.seed}")
    corpus, _ = timed(
        "generated",
        lambda: generate_corpus(work / "corpus-empty", args.messages, args.seed, "bench-a", 0),
    )
    say(
        f"  {corpus.count} files, {mib(corpus.total_bytes)}, "
        f"{corpus.created} expected new tickets, {corpus.kinds['replies']} replies"
    )
    say("  " + ", ".join(f"{k}: {v}" for k, v in corpus.kinds.items() if k != "replies"))

    raws = [p.read_bytes() for p in corpus.paths]
    count = corpus.count
    parse_only(raws[: min(50, len(raws))])  # warm-up: lazy imports inside email
    say("\n[2] (a) parse-only baseline (compat32 parse, every part decoded, no storage)")
    base_1 = parse_only(raws)
    say(f"  pass 1: {describe(base_1, count)}")

    say("\n[3] (b) maildesk ingest into a fresh SQLite database (CLI subprocess)")
    probe = work / "probe"
    empty_dir = probe / "empty"
    empty_dir.mkdir(parents=True)
    probe_config = write_config(probe, probe / "maildesk.db")
    start = time.perf_counter()
    result = run_maildesk(["ingest", "--config", str(probe_config), str(empty_dir)], probe, 300)
    fixed = time.perf_counter() - start
    if result.returncode != 0:
        broken.append(
            f"ingest of an empty directory exited {result.returncode}: {result.stderr.strip()}"
        )
    say(f"  fixed cost (start-up + schema, empty directory): {fixed:.2f} s (included below)")
    empty_home = work / "empty-db"
    empty_config = write_config(empty_home, empty_home / "maildesk.db")
    empty = timed_ingest(empty_config, corpus, empty_home)
    broken += empty.problems
    broken += check_ticket_list(empty_config, empty_home, corpus, 0)
    checked = "CHECK FAILED" if empty.problems else "checked: every message where expected"
    say(f"  (b): {describe(empty.timing, count)} ({checked})")
    base_2 = parse_only(raws)
    say(f"  (a) pass 2, after (b): {describe(base_2, count)}")
    base_b = mean_timing(base_1, base_2)
    ratio_empty = empty.timing.rate(count) / base_b.rate(count)
    cpu_empty = empty.timing.cpu_rate(count) / base_b.cpu_rate(count)
    say(f"  (a) = {base_b.rate(count):.1f} msg/s (mean of the passes before and after (b))")
    say(
        f"  (b)/(a) by CPU time = {cpu_empty:.3f}   target >= {TARGET_EMPTY_RATIO}   "
        f"{verdict(cpu_empty >= TARGET_EMPTY_RATIO)}   (wall-clock ratio {ratio_empty:.3f})"
    )
    drift_note(base_1, base_2)
    rows += [
        Row("(a) parse-only baseline", f"{base_b.rate(count):.1f} msg/s"),
        Row("(b) ingest, empty database", f"{empty.timing.rate(count):.1f} msg/s"),
        Row(
            "(b)/(a) by CPU time",
            f"{cpu_empty:.3f}",
            f">= {TARGET_EMPTY_RATIO}",
            cpu_empty >= TARGET_EMPTY_RATIO,
        ),
        Row("(b)/(a) wall clock (info)", f"{ratio_empty:.3f}"),
    ]

    if not args.skip_scale:
        n = args.scale_tickets
        say(f"\n[4] (c) maildesk ingest into a database pre-filled with {n} tickets")
        scale_home = work / "scale-db"
        scale_home.mkdir()
        counts, fill_seconds = timed(
            "pre-filled", lambda: prefill(scale_home / "maildesk.db", n, args.seed)
        )
        say(
            "  rows: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f"; {mib((scale_home / 'maildesk.db').stat().st_size)} on disk"
        )
        if fill_seconds > 60:
            broken.append(f"pre-fill took {fill_seconds:.1f} s (should be well under a minute)")
        corpus_scale, _ = timed(
            "corpus generated",
            lambda: generate_corpus(work / "corpus-scale", args.messages, args.seed, "bench-c", n),
        )
        scale_config = write_config(scale_home, scale_home / "maildesk.db")
        base_3 = parse_only(raws)
        say(f"  (a) pass 3, before (c): {describe(base_3, count)}")
        scale = timed_ingest(scale_config, corpus_scale, scale_home)
        broken += scale.problems
        broken += check_ticket_list(scale_config, scale_home, corpus_scale, n)
        checked = "CHECK FAILED" if scale.problems else "checked: every message where expected"
        say(f"  (c): {describe(scale.timing, count)} ({checked})")
        base_4 = parse_only(raws)
        say(f"  (a) pass 4, after (c): {describe(base_4, count)}")
        base_c = mean_timing(base_3, base_4)
        ratio_scale = scale.timing.rate(count) / empty.timing.rate(count)
        cpu_scale = scale.timing.cpu_rate(count) / empty.timing.cpu_rate(count)
        normalised = (scale.timing.rate(count) / base_c.rate(count)) / ratio_empty
        say(
            f"  (c)/(b) = {ratio_scale:.3f}   target >= {TARGET_SCALE_RATIO}   "
            f"{verdict(ratio_scale >= TARGET_SCALE_RATIO)}   (CPU-time ratio {cpu_scale:.3f}; "
            f"normalised by the baseline around each run {normalised:.3f})"
        )
        drift_note(base_b, base_c)
        rows += [
            Row(f"(c) ingest, {n}-ticket database", f"{scale.timing.rate(count):.1f} msg/s"),
            Row(
                "(c)/(b)",
                f"{ratio_scale:.3f}",
                f">= {TARGET_SCALE_RATIO}",
                ratio_scale >= TARGET_SCALE_RATIO,
            ),
            Row("(c)/(b) by CPU time (info)", f"{cpu_scale:.3f}"),
            Row("(c)/(b) drift-normalised (info)", f"{normalised:.3f}"),
        ]

    if not args.skip_memory:
        say("\n[5] memory: ~25 MB messages (text, HTML only, attachments), each in a fresh")
        say("  subprocess and database. The message is written to a file first; the child")
        say("  opens the runtime, ingests a small warm-up message, reads VmRSS (idle), resets")
        say("  VmHWM, then reads the file and ingests it; factor = (VmHWM - idle) / len(raw),")
        say("  the raw bytes included (printed without them too). Generating the message in")
        say("  another process keeps its construction out of the peak.")
        for kind in MEMORY_KINDS:
            try:
                mem = measure_memory(work, args.seed, kind)
            except BenchError as exc:
                say(f"  {kind}: BROKEN: {exc}")
                broken.append(f"memory ({kind}): {exc}")
                continue
            passed = mem.factor_with_raw < TARGET_MEMORY_FACTOR
            for note in mem.notes:
                say(f"  note: {note}")
            say(
                f"  {kind}: message {mib(mem.size)}, idle {mib(mem.idle)}, "
                f"peak {mib(mem.peak)}, peak - idle {mib(mem.peak - mem.idle)}"
            )
            say(
                f"    (peak - idle) / raw = {mem.factor_with_raw:.2f}   "
                f"target < {TARGET_MEMORY_FACTOR}   {verdict(passed)}   "
                f"(without the raw copy: {mem.factor:.2f})"
            )
            rows += [
                Row(f"memory ({kind}): peak - idle", mib(mem.peak - mem.idle)),
                Row(
                    f"memory ({kind}): / raw",
                    f"{mem.factor_with_raw:.2f}",
                    f"< {TARGET_MEMORY_FACTOR}",
                    passed,
                ),
            ]

    if args.profile:
        say("\n[6] profile")
        say(profile_ingest(work, corpus, 30))

    say("\nsummary")
    width = max(len(r.metric) for r in rows)
    say(f"  {'metric':<{width}}  {'value':>14}  {'target':>8}  result")
    for r in rows:
        result_text = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        say(f"  {r.metric:<{width}}  {r.value:>14}  {r.target:>8}  {result_text}".rstrip())
    failed = [r.metric for r in rows if r.passed is False]
    say(f"  total time {time.perf_counter() - started:.1f} s")
    if broken:
        say("\nBROKEN (figures not trustworthy):")
        for problem in broken:
            say(f"  - {problem}")
        return EXIT_BROKEN
    if failed:
        say(f"\ntargets missed: {', '.join(failed)}")
        return EXIT_TARGET_MISSED
    say("\nall targets met")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
