"""django-helpdesk's side of bench/peer: run with the python of the virtualenv that
bench/peer.py makes for django-helpdesk, never with maildesk's.

    python peer_helpdesk.py setup MAILDIR     # migrate, one queue reading MAILDIR
    python peer_helpdesk.py ingest            # get_email once (the timed part)
    python peer_helpdesk.py count PAIRS.json  # tickets, follow-ups, replies threaded

DJANGO_SETTINGS_MODULE and sys.path name the settings bench/peer.py wrote.
`ingest` runs what `manage.py get_email` runs (`helpdesk.email.process_email`) with
three changes, the first two of which the issue asks for: the local folder is read in binary
(2.6.1 opens the files in text mode with the locale's encoding, which fails on 8-bit
mail; bytes go through the same `force_str(..., errors="replace")` as its text), and
the folder is listed in name order (os.listdir's order is arbitrary, and a reply must
come after the message it answers, as it does for `maildesk ingest`). And one
message that raises (2.6.1 does on some of the samples) is counted and left in the
folder, as get_email does with a message it could not process, instead of ending
the whole run there (get_email's own handling): maildesk quarantines such a message
and goes on.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from typing import Any

import django


def setup(maildir: str) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from helpdesk.models import Queue

    Queue.objects.create(
        title="Support",
        slug="sup",
        email_address="support@example.com",
        allow_email_submission=True,
        email_box_type="local",
        email_box_local_dir=maildir,
        email_box_interval=0,
    )


def ingest(*flags: str) -> None:
    from django.core import mail
    from helpdesk import email as helpdesk_email

    def binary_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return builtins.open(path, "rb")

    extract = helpdesk_email.extract_email_metadata
    failures: list[str] = []

    def one_message(*args: Any, **kwargs: Any) -> Any:
        try:
            return extract(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - counted, and the message stays in the folder
            failures.append(f"{type(exc).__name__}: {exc}")
            return None

    listdir = os.listdir
    os.listdir = lambda path=".": sorted(listdir(path))  # type: ignore[assignment,misc]
    helpdesk_email.open = binary_open  # type: ignore[attr-defined]
    helpdesk_email.extract_email_metadata = one_message
    mail.outbox = []  # the locmem backend's: acknowledgements composed
    helpdesk_email.process_email(quiet=True, debug_to_stdout="-v" in flags)
    print(json.dumps({"mails_sent": len(mail.outbox), "failures": failures}))


def count(pairs_path: str) -> None:
    """`pairs_path`: JSON [[reply Message-ID, Message-ID it answers], ...]."""
    from helpdesk.models import FollowUp, FollowUpAttachment, Ticket

    with open(pairs_path, encoding="utf-8") as handle:
        pairs = json.load(handle)
    ticket_of = dict(FollowUp.objects.values_list("message_id", "ticket_id"))
    threaded = sum(
        1
        for reply, parent in pairs
        if ticket_of.get(reply) is not None and ticket_of.get(reply) == ticket_of.get(parent)
    )
    counts = {
        "tickets": Ticket.objects.count(),
        "messages": FollowUp.objects.count(),
        "attachments": FollowUpAttachment.objects.count(),
        "threaded": threaded,
    }
    print(json.dumps(counts))


if __name__ == "__main__":
    django.setup()
    command, *rest = sys.argv[1:]
    {"setup": setup, "ingest": ingest, "count": count}[command](*rest)
