"""Bounces as mail servers write them, around a mail that really went out: Postfix and
Exchange/Office 365 (RFC 3464 reports), Gmail (its report, and its older plain text),
Exim (plain text with X-Failed-Recipients, the original quoted inline) and qmail.

Where it sits: test-only, for the bounce tests (`tests/test_bounces.py`). Each
function takes the bytes of the mail that bounced and the failed address.
"""

from __future__ import annotations

import email.utils
import itertools

_ids = itertools.count(1)
CRLF = "\r\n"


def _headers_of(original: bytes) -> str:
    """The header block of `original`, as text with LF line ends."""
    text = original.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return text.split("\n\n", 1)[0] + "\n"


def _text(original: bytes) -> str:
    return original.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _top(frm: str, subject: str, boundary: str | None, extra: str = "") -> str:
    content = (
        f'multipart/report; report-type=delivery-status;\n boundary="{boundary}"'
        if boundary
        else "text/plain; charset=us-ascii"
    )
    return (
        f"From: {frm}\n"
        "To: support@example.com\n"
        f"Subject: {subject}\n"
        f"Date: {email.utils.formatdate()}\n"
        f"Message-ID: <bounce{next(_ids)}@mx.customer.test>\n"
        "Auto-Submitted: auto-replied\n"
        f"{extra}"
        "MIME-Version: 1.0\n"
        f"Content-Type: {content}\n\n"
    )


def _done(text: str) -> bytes:
    return text.replace("\n", CRLF).encode()


def postfix(
    original: bytes,
    rcpt: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "",
) -> bytes:
    """Postfix's bounce (or, with action delayed and a 4.x.x status, its delay notice)."""
    diagnostic = (
        diagnostic or f"smtp; 550 {status} <{rcpt}>: Recipient address rejected: User unknown"
    )
    b = "3F1A2C0041.1700000000/mx.customer.test"
    subject = (
        "Undelivered Mail Returned to Sender"
        if action == "failed"
        else "Delayed Mail (still being retried)"
    )
    return _done(
        _top("MAILER-DAEMON@mx.customer.test (Mail Delivery System)", subject, b)
        + "This is a MIME-encapsulated message.\n\n"
        f"--{b}\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mx.customer.test.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "                   The mail system\n\n"
        f"<{rcpt}>: host mx.customer.test[127.0.0.1] said: {diagnostic[6:]}\n"
        "    (in reply to RCPT TO command)\n\n"
        f"--{b}\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.customer.test\n"
        "X-Postfix-Queue-ID: 3F1A2C0041\n"
        "X-Postfix-Sender: rfc822; support@example.com\n"
        f"Arrival-Date: {email.utils.formatdate()}\n\n"
        f"Final-Recipient: rfc822; {rcpt}\n"
        f"Original-Recipient: rfc822;{rcpt}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        "Remote-MTA: dns; mx.customer.test\n"
        f"Diagnostic-Code: {diagnostic}\n\n"
        f"--{b}\nContent-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
        f"{_text(original)}\n"
        f"--{b}--\n"
    )


def exim(original: bytes, rcpt: str) -> bytes:
    """Exim's "Mail delivery failed: returning message to sender", the original inline."""
    return _done(
        _top(
            "Mail Delivery System <Mailer-Daemon@mx.customer.test>",
            "Mail delivery failed: returning message to sender",
            None,
            f"X-Failed-Recipients: {rcpt}\n",
        )
        + "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {rcpt}\n"
        f"    SMTP error from remote mail server after RCPT TO:<{rcpt}>:\n"
        f"    550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "Return-path: <support@example.com>\n"
        f"{_text(original)}\n"
    )


def qmail(original: bytes, rcpt: str) -> bytes:
    """qmail's "failure notice"."""
    return _done(
        _top("MAILER-DAEMON@mx.customer.test", "failure notice", None)
        + "Hi. This is the qmail-send program at mx.customer.test.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{rcpt}>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        f"{_text(original)}\n"
    )


def gmail(original: bytes, rcpt: str) -> bytes:
    """Gmail's report: a human part in multipart/alternative, the status, the headers."""
    b, alt = "000000000000a1b2c3", "000000000000d4e5f6"
    mid = next(
        line.split(":", 1)[1].strip()
        for line in _headers_of(original).splitlines()
        if line.lower().startswith("message-id:")
    )
    return _done(
        _top(
            "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            "Delivery Status Notification (Failure)",
            b,
            f"References: {mid}\nIn-Reply-To: {mid}\nX-Failed-Recipients: {rcpt}\n",
        )
        + f'--{b}\nContent-Type: multipart/alternative; boundary="{alt}"\n\n'
        f'--{alt}\nContent-Type: text/plain; charset="UTF-8"\n\n'
        "** Address not found **\n\n"
        f"Your message wasn't delivered to {rcpt} because the address couldn't be found,\n"
        "or is unable to receive mail.\n\n"
        "The response from the remote server was:\n"
        f"550 5.1.1 The email account that you tried to reach does not exist.\n\n"
        f'--{alt}\nContent-Type: text/html; charset="UTF-8"\n\n'
        f"<html><body><p>Your message wasn't delivered to {rcpt}.</p></body></html>\n\n"
        f"--{alt}--\n"
        f"--{b}\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; googlemail.com\n"
        "Received-From-MTA: dns; ann@example.com\n"
        f"Arrival-Date: {email.utils.formatdate()}\n"
        "X-Original-Message-ID: " + mid + "\n\n"
        f"Final-Recipient: rfc822; {rcpt}\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: dns; mx.customer.test. (127.0.0.1, the server for the domain\n"
        " customer.test.)\n"
        "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does\n"
        " not exist. Please try 550-5.1.1 double-checking the recipient's email address\n"
        f"Last-Attempt-Date: {email.utils.formatdate()}\n\n"
        f"--{b}\nContent-Type: text/rfc822-headers\n\n"
        f"{_headers_of(original)}\n"
        f"--{b}--\n"
    )


def gmail_plain(original: bytes, rcpt: str) -> bytes:
    """Gmail's older plain-text bounce."""
    return _done(
        _top(
            "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            "Delivery Status Notification (Failure)",
            None,
        )
        + "Delivery to the following recipient failed permanently:\n\n"
        f"     {rcpt}\n\n"
        "Technical details of permanent failure:\n"
        "Google tried to deliver your message, but it was rejected by the server for the\n"
        "recipient domain customer.test by mx.customer.test. [127.0.0.1].\n\n"
        "The error that the other server returned was:\n"
        "550 5.1.1 User unknown\n\n"
        "----- Original message -----\n\n"
        f"{_text(original)}\n"
    )


def exchange(original: bytes, rcpt: str) -> bytes:
    """Exchange Online / Office 365's non-delivery report."""
    b = "_b8a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d_"
    alt = "_000_AM0PR01MB1234_"
    return _done(
        _top(
            "Microsoft Outlook <postmaster@customer.test>",
            "Undeliverable: Re: [SUP-00001] Printer on fire",
            b,
            "X-MS-Exchange-Message-Is-Ndr:\nContent-Language: en-US\n",
        )
        + f"--{b}\nContent-Type: multipart/alternative; differences=Content-Type;\n"
        f'\tboundary="{alt}"\n\n'
        f'--{alt}\nContent-Type: text/plain; charset="us-ascii"\n\n'
        "Your message to "
        f"{rcpt} couldn't be delivered.\n\n"
        f"{rcpt.split('@')[0]} wasn't found at customer.test.\n\n"
        "Action Required\n\nUnknown To address\n\n"
        f'--{alt}\nContent-Type: text/html; charset="us-ascii"\n\n'
        f"<html><body><b>Your message to {rcpt} couldn't be delivered.</b></body></html>\n\n"
        f"--{alt}--\n\n"
        f"--{b}\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\n"
        "Received-From-MTA: dns;mail.example.com\n"
        f"Arrival-Date: {email.utils.formatdate()}\n\n"
        f"Final-recipient: RFC822;{rcpt}\n"
        "Action: failed\n"
        "Status: 5.1.10\n"
        f"Diagnostic-code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {rcpt}\n"
        " not found by SMTP address lookup\n\n"
        f"--{b}\nContent-Type: message/rfc822\n\n"
        f"{_text(original)}\n"
        f"--{b}--\n"
    )
