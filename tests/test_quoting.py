"""core.quoting: the new text of a reply versus its quoted history and signature.

Where it sits in the flow: display only (web view, notifications); the full text
is always stored. The tables below are replies as real clients write them
(Gmail, Outlook en/de, Apple Mail, Thunderbird, phones, HTML turned into text),
then the cases where a careful reader would keep the text visible, then
properties: nothing is ever lost, and plain prose is never folded.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from maildesk.core.quoting import LANGUAGES, MARKERS, MAX_SIGNATURE_LINES, split_reply

NBSP = "\u00a0"

GMAIL_QUOTE = """\
> Hello Jane,
>
> please restart the printer.
>
> Bob
> --
> Example Support"""

# (id, reply text, what the person wrote)
SPLIT_CASES = [
    (
        "gmail-en",
        f"""Thanks, that fixed it!

Jane

On Tue, Nov 18, 2026 at 9:14 AM Example Support <support@example.com>
wrote:

{GMAIL_QUOTE}
""",
        "Thanks, that fixed it!\n\nJane",
    ),
    (
        "gmail-en-one-line-attribution",
        f"Works.\n\nOn Tue, Nov 18, 2026 at 9:14 AM Bob <bob@example.com> wrote:\n\n{GMAIL_QUOTE}",
        "Works.",
    ),
    (
        "gmail-de",
        f"""Danke, jetzt geht es.

Am Di., 18. Nov. 2026 um 09:14 Uhr schrieb Example Support <
support@example.com>:

{GMAIL_QUOTE}""",
        "Danke, jetzt geht es.",
    ),
    (
        "gmail-fr-nbsp",
        f"""Merci, ça marche.

Le mar. 18 nov. 2026 à 09:14, Example Support <support@example.com> a
écrit{NBSP}:

{GMAIL_QUOTE}""",
        "Merci, ça marche.",
    ),
    (
        "gmail-es",
        f"""Gracias, ya funciona.

El mar, 18 nov 2026 a las 9:14, Example Support (<support@example.com>)
escribió:

{GMAIL_QUOTE}""",
        "Gracias, ya funciona.",
    ),
    (
        "gmail-nl",
        f"""Bedankt, het werkt weer.

Op di 18 nov. 2026 om 09:14 schreef Example Support <support@example.com>:

{GMAIL_QUOTE}""",
        "Bedankt, het werkt weer.",
    ),
    (
        "gmail-it",
        f"""Grazie, ora funziona.

Il giorno mar 18 nov 2026 alle ore 09:14 Example Support <
support@example.com> ha scritto:

{GMAIL_QUOTE}""",
        "Grazie, ora funziona.",
    ),
    (
        "outlook-en-rule-and-headers",
        """Hi Bob,

It works now.

Regards,
Jane Doe
ACME Corp | +1 555 0100

________________________________
From: Example Support <support@example.com>
Sent: Tuesday, November 18, 2026 9:14 AM
To: Jane Doe <jane@acme.example>
Subject: [SUP-00042] Printer on fire

Hello Jane,

please restart the printer.
""",
        "Hi Bob,\n\nIt works now.\n\nRegards,\nJane Doe\nACME Corp | +1 555 0100",
    ),
    (
        "outlook-en-original-message",
        """Please close the ticket.

-----Original Message-----
From: Example Support [mailto:support@example.com]
Sent: Tuesday, November 18, 2026 9:14 AM
To: Jane Doe
Subject: RE: [SUP-00042] Printer on fire

Is it working now?""",
        "Please close the ticket.",
    ),
    (
        "outlook-de-headers-wrapped-recipients",
        """Hallo zusammen,

anbei die Logdatei.

Mit freundlichen Grüßen
Jana Beispiel

Von: Example Support <support@example.com>
Gesendet: Dienstag, 18. November 2026 09:14
An: Jana Beispiel <jana@beispiel.example>; Max Muster <max@beispiel.example>;
Erika Muster <erika@beispiel.example>
Cc: it@beispiel.example
Betreff: AW: [SUP-00042] Drucker

Bitte senden Sie uns die Logdatei.""",
        "Hallo zusammen,\n\nanbei die Logdatei.\n\nMit freundlichen Grüßen\nJana Beispiel",
    ),
    (
        "outlook-de-urspruengliche-nachricht",
        """Erledigt.

-----Ursprüngliche Nachricht-----
Von: Example Support <support@example.com>
Gesendet: Dienstag, 18. November 2026 09:14
An: Jana Beispiel
Betreff: [SUP-00042] Drucker""",
        "Erledigt.",
    ),
    (
        "outlook-fr-headers",
        """C'est réglé.

De : Example Support <support@example.com>
Envoyé : mardi 18 novembre 2026 09:14
À : Jeanne Exemple <jeanne@exemple.example>
Objet : [SUP-00042] Imprimante""",
        "C'est réglé.",
    ),
    (
        "apple-mail-en",
        """Works now, thanks.

Jane

> On 18 Nov 2026, at 09:14, Example Support <support@example.com> wrote:
>\u0020
> Hello Jane,
>\u0020
> please restart the printer.
""",
        "Works now, thanks.\n\nJane",
    ),
    (
        "apple-mail-de",
        """Geht wieder.

> Am 18.11.2026 um 09:14 schrieb Example Support <support@example.com>:
>
> Bitte starten Sie den Drucker neu.""",
        "Geht wieder.",
    ),
    (
        "iphone",
        """Yes, please close it.

Sent from my iPhone

> On 18 Nov 2026, at 09:14, Example Support <support@example.com> wrote:
>\u0020
> Can we close this ticket?""",
        "Yes, please close it.",
    ),
    (
        "iphone-de",
        """Ja, bitte schließen.

Von meinem iPhone gesendet

> Am 18.11.2026 um 09:14 schrieb Example Support <support@example.com>:
>\u0020
> Können wir das Ticket schließen?""",
        "Ja, bitte schließen.",
    ),
    (
        "outlook-ios",
        """Still broken.

Get Outlook for iOS<https://aka.ms/o0ukef>
________________________________
From: Example Support <support@example.com>
Sent: Tuesday, November 18, 2026 9:14:02 AM
To: Jane Doe <jane@acme.example>
Subject: [SUP-00042] Printer on fire

Is it working now?""",
        "Still broken.",
    ),
    (
        "samsung-android",
        """It printed a test page.



Sent from my Samsung Galaxy smartphone.


-------- Original message --------
From: Example Support <support@example.com>
Date: 18/11/2026 09:14 (GMT+01:00)
To: jane@example.org
Subject: [SUP-00042] Printer on fire

Please print a test page.""",
        "It printed a test page.",
    ),
    (
        "thunderbird-top-posting",
        """Done, thanks.

On 18/11/2026 09:14, Example Support wrote:
> Please confirm that the printer works.
>
> Bob""",
        "Done, thanks.",
    ),
    (
        "thunderbird-bottom-posting",
        """On 18.11.26 09:14, Example Support wrote:
> Could you send the log file?

Here it is, attached.

--\u0020
Jane Doe
ACME Corp""",
        "Here it is, attached.",
    ),
    (
        "thunderbird-de-bottom-posting-no-signature",
        """Am 18.11.26 um 09:14 schrieb Example Support:
> Können Sie die Logdatei schicken?

Anbei.

Grüße
Jana""",
        "Anbei.\n\nGrüße\nJana",
    ),
    (
        "mutt-old-style-attribution",
        """Yes, version 3.2.

* Example Support <support@example.com> [2026-11-18 09:14]:
> Which version do you run?""",
        "Yes, version 3.2.",
    ),
    (
        "signature-only-delimiter",
        """Thanks!

--\u0020
Jane Doe
ACME Corp
+1 555 0100""",
        "Thanks!",
    ),
    (
        "signature-then-quote",
        """Thanks!

--
Jane Doe

On Tue, Nov 18, 2026 at 9:14 AM Bob <bob@example.com> wrote:
> Fixed?""",
        "Thanks!",
    ),
    (
        "gmail-forward",
        """Please have a look at the mail below.

---------- Forwarded message ---------
From: Billing <billing@vendor.example>
Date: Tue, Nov 18, 2026 at 9:14 AM
Subject: Invoice
To: <jane@example.org>

Your invoice is attached.""",
        "Please have a look at the mail below.",
    ),
    (
        "apple-forward-de",
        """Siehe unten.

Anfang der weitergeleiteten Nachricht:

Von: Billing <billing@vendor.example>
Betreff: Rechnung
Datum: 18. November 2026 um 09:14:00 MEZ
An: jana@beispiel.example

Ihre Rechnung.""",
        "Siehe unten.",
    ),
    (
        "thunderbird-forward",
        """FYI

-------- Forwarded Message --------
Subject: 	Invoice
Date: 	Tue, 18 Nov 2026 09:14:00 +0100
From: 	Billing <billing@vendor.example>
To: 	jane@example.org

Your invoice is attached.""",
        "FYI",
    ),
    (
        "html-derived-gmail",
        "  Thanks, that fixed it.\n\n    On Tue, Nov 18, 2026 at 9:14 AM Example Support"
        " <support@example.com> wrote:\n    Please restart the printer.\n\n    Bob",
        "Thanks, that fixed it.",
    ),
    (
        "html-derived-outlook-de",
        "  Hallo,\n\n  es geht wieder.\n\n      Von: Example Support <support@example.com>\n"
        "      Gesendet: Dienstag, 18. November 2026 09:14\n"
        "      An: Jane Doe <jane@example.org>\n      Betreff: [SUP-00042] Drucker\n\n"
        "  Bitte starten Sie den Drucker neu.\n",
        "Hallo,\n\nes geht wieder.",
    ),
    (
        "windows-line-endings",
        "Works.\r\n\r\nOn Tue, Nov 18, 2026 at 9:14 AM Bob <bob@example.com> wrote:\r\n"
        "> Fixed?\r\n",
        "Works.",
    ),
]

# Replies where a careful reader keeps everything visible.
KEEP_CASES = [
    (
        "no-quote",
        "Hello,\n\nthe printer is on fire.\nPlease help!\n\nJane",
    ),
    (
        "inline-reply",
        """On 18/11/2026 09:14, Example Support wrote:
> Which version do you run?

3.2.1

> And which operating system?

Debian 13.

Jane""",
    ),
    (
        "writer-quotes-a-log",
        """The server says:
> ERROR: disk full
> at /var/spool/maildesk""",
    ),
    (
        "python-session",
        """Here is what I get:
>>> import maildesk
>>> maildesk.run()
Traceback (most recent call last):
RuntimeError: boom""",
    ),
    (
        "sentence-starting-with-on",
        """On Monday our printer wrote:
PAPER JAM IN TRAY 2
and stopped. Can you help?""",
    ),
    (
        "mobile-phrase-mid-text",
        """Sent from my phone earlier, but here is the full story:
the printer is on fire.""",
    ),
    (
        "underscores-as-divider",
        """Part one.
____________________
Part two, which is still mine.""",
    ),
    (
        "double-dash-inside-a-line",
        "Restart it -- then wait.\nThanks",
    ),
    (
        "long-text-after-dashes",
        "Summary\n--\n" + "\n".join(f"Step {n}: do thing {n}." for n in range(1, 20)),
    ),
    (
        "address-before-own-quote",
        "Hi,\n\nplease write to help@example.com:\n> Subject: refund\n> Order 42",
    ),
    (
        "from-line-alone",
        "From: Jane\nI need help with the printer.",
    ),
]


def _visible_words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(
    ("text", "visible"), [c[1:] for c in SPLIT_CASES], ids=[c[0] for c in SPLIT_CASES]
)
def test_split_reply_on_real_client_formats(text: str, visible: str) -> None:
    reply = split_reply(text)
    assert reply.visible == visible
    assert reply.quoted  # the history is kept, for folding away
    assert _non_space(reply.visible + reply.quoted) == _non_space(text)


@pytest.mark.parametrize("text", [c[1] for c in KEEP_CASES], ids=[c[0] for c in KEEP_CASES])
def test_split_reply_keeps_what_the_person_wrote(text: str) -> None:
    reply = split_reply(text)
    assert reply.visible == text.strip()
    assert reply.quoted == ""


def test_bottom_posting_keeps_both_quote_and_signature_as_history() -> None:
    text = "On 18.11.26 09:14, Bob wrote:\n> Log?\n\nAttached.\n\n-- \nJane"
    reply = split_reply(text)
    assert reply.visible == "Attached."
    assert reply.quoted == "On 18.11.26 09:14, Bob wrote:\n> Log?\n\n-- \nJane"


def test_signature_limit() -> None:
    short = "Hi\n-- \n" + "\n".join(f"line {n}" for n in range(MAX_SIGNATURE_LINES))
    long = short + "\none line too many"
    assert split_reply(short).visible == "Hi"
    assert split_reply(long).visible == long


def test_an_attribution_without_a_quote_needs_a_time_or_address() -> None:
    sure = "Ok.\n\nOn Tue, Nov 18, 2026 at 9:14 AM Bob wrote:\nold text"
    unsure = "Ok.\n\nOn Tuesday Bob wrote:\nold text"
    assert split_reply(sure).visible == "Ok."
    assert split_reply(unsure).visible == unsure


def test_only_quoted_text_leaves_nothing_visible() -> None:
    reply = split_reply("> just a quote\n> nothing new")
    assert reply == type(reply)(visible="", quoted="> just a quote\n> nothing new")


def test_empty_text() -> None:
    assert split_reply("") == split_reply("\n\n") == type(split_reply(""))("", "")


def test_tables_are_complete() -> None:
    assert {lang.code for lang in LANGUAGES} >= {"en", "de", "fr", "es", "nl", "it"}
    for lang in LANGUAGES:
        assert lang.attributions and lang.verbs and lang.separators and lang.mobile
        assert all(name == name.lower() for name in lang.headers)
    names = [marker.name for marker in MARKERS]
    assert len(names) == len(set(names))
    assert all(marker.description for marker in MARKERS)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


def _non_space(text: str) -> Counter[str]:
    return Counter(re.sub(r"\s", "", text))


LINE_PIECES = st.sampled_from(
    [
        "",
        " ",
        "> quoted",
        ">",
        "-- ",
        "--",
        "Sent from my iPhone",
        "On Tue, Nov 18, 2026 at 9:14 AM Bob <bob@example.com> wrote:",
        "On 18/11/2026 09:14, Bob",
        "wrote:",
        "Am 18.11.26 um 09:14 schrieb Bob:",
        "-----Original Message-----",
        "________________________________",
        "From: Bob <bob@example.com>",
        "Sent: Tuesday, November 18, 2026 9:14 AM",
        "To: Jane",
        "Subject: hi",
        "Begin forwarded message:",
        "Hello Jane,",
        "  indented text",
        "The log says:",
        "#status resolved",
    ]
)
REPLY_LIKE = st.lists(st.one_of(LINE_PIECES, st.text(max_size=20)), max_size=30).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n"]).map(lambda eol: eol.join(lines))
)
# Prose that spells none of the markers: no '>', ':', '-', '_' and no "sent".
PROSE = st.text(alphabet="abcdefghijklm ABCDEFGHIJKLM0123456789.,!?\n", max_size=300)
# No deadline: a loaded CI machine can stall one example past hypothesis's 200 ms.
PROPERTY = settings(deadline=None)


@PROPERTY
@given(st.one_of(st.text(), REPLY_LIKE))
def test_split_reply_loses_nothing(text: str) -> None:
    reply = split_reply(text)
    assert _non_space(reply.visible + reply.quoted) == _non_space(text)


@PROPERTY
@given(REPLY_LIKE)
def test_visible_text_has_nothing_more_to_fold(text: str) -> None:
    # With several `-- ` lines the signature length limit is relative to the cut:
    # folding one may bring the next within MAX_SIGNATURE_LINES.
    assume(sum(line.strip() == "--" for line in re.split(r"\r\n|\r|\n", text)) <= 1)
    visible = split_reply(text).visible
    assert split_reply(visible).visible == visible


@PROPERTY
@given(PROSE)
def test_prose_is_never_folded(text: str) -> None:
    reply = split_reply(text)
    assert reply.quoted == ""
    assert _visible_words(reply.visible) == _visible_words(text)


@PROPERTY
@given(PROSE, st.lists(st.text(alphabet="abc xyz.,", max_size=40), min_size=1, max_size=5))
def test_prose_above_a_gmail_quote(prose: str, quoted: list[str]) -> None:
    history = "On Tue, Nov 18, 2026 at 9:14 AM Bob <bob@example.com> wrote:\n\n"
    history += "\n".join(f"> {line}" for line in quoted)
    reply = split_reply(f"{prose}\n\n{history}")
    assert _visible_words(reply.visible) == _visible_words(prose)
    assert reply.quoted == history.rstrip()
