"""Mail as people write it, for conversation tests: a customer's first mail, and a
reply built from a mail they received, the way a mail client builds one
(Re: subject, In-Reply-To/References, the original quoted below).

Where it sits: test-only, shared by the conversation tests through `maildesk
ingest` and through the real daemon.
"""

from __future__ import annotations

import email.policy
import email.utils
import itertools
from email.message import EmailMessage
from pathlib import Path

_ids = itertools.count(1)
POLICY = email.policy.default


def new_id(domain: str = "customer.test") -> str:
    return f"<t{next(_ids)}.{id(_ids)}@{domain}>"


def customer_mail(
    frm: str = "Carl Customer <carl@customer.test>",
    subject: str = "Printer on fire",
    body: str = "Hello,\nmy printer is on fire.\nCarl\n",
    to: str = "support@example.com",
    cc: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = frm
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = new_id(frm.rpartition("@")[2].rstrip(">"))
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def reply(
    to_mail: EmailMessage,
    frm: str,
    body: str,
    headers: dict[str, str] | None = None,
    quote: bool = True,
    to: str | None = None,
) -> bytes:
    """A reply to `to_mail` from `frm`: new text on top, the original quoted below."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = frm
    msg["To"] = to or str(to_mail.get("Reply-To") or to_mail["From"])
    subject = str(to_mail["Subject"])
    msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = new_id(frm.rpartition("@")[2].rstrip(">"))
    parent = str(to_mail["Message-ID"])
    msg["In-Reply-To"] = parent
    msg["References"] = " ".join([*str(to_mail.get("References", "")).split(), parent])
    for name, value in (headers or {}).items():
        msg[name] = value
    text = body
    if quote:
        original = text_of(to_mail)
        quoted = "\n".join(f"> {line}" if line else ">" for line in original.splitlines())
        text = f"{body}\n\nOn {to_mail['Date']}, {to_mail['From']} wrote:\n{quoted}\n"
    msg.set_content(text)
    return msg.as_bytes()


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None, "no text part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None, "no HTML part"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(msg, EmailMessage)
    return msg


def maildir_mails(folder: Path) -> list[EmailMessage]:
    """The mails an outbox maildir holds, in the order they were queued (file = row id)."""
    files = sorted((folder / "new").glob("*.eml"), key=lambda p: int(p.stem))
    return [parse(path.read_bytes()) for path in files]


def recipients(mail: EmailMessage) -> set[str]:
    """Whom the mail was delivered to, lower-cased: its envelope where the outbox maildir
    wrote one (X-Maildesk-Recipients), else every address in To and Cc."""
    envelope = mail.get("X-Maildesk-Recipients")
    fields = [str(envelope)] if envelope is not None else []
    fields = fields or [str(v) for v in (*mail.get_all("To", []), *mail.get_all("Cc", []))]
    found = email.utils.getaddresses(fields)
    return {addr.lower() for _, addr in found if addr}
