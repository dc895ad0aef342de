"""What the SMTP/LMTP listener answers: each reply a named, typed constant.

Where it sits in the flow: `inbound.smtp` answers RCPT, DATA, AUTH and a
shutdown with these, and with nothing written inline, so every line a sender
can see from maildesk is listed here. The codes follow RFC 5321, the enhanced
status codes RFC 3463 (advertised as ENHANCEDSTATUSCODES, RFC 2034); a test
(tests/test_smtp_replies.py) checks that each reply is consistent and that no
reply line is written anywhere else in `maildesk/inbound/`.

The replies aiosmtpd gives on its own (syntax errors, 552 for an oversized
message, 530 before AUTH) are aiosmtpd's and are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: `code` (RFC 5321), `enhanced` (RFC 3463 class.subject.detail)
    and a one-line `text`, which may hold `{name}` fields. `str()` is the line sent."""

    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    def format(self, **fields: object) -> str:
        """The line sent, with the text's `{name}` fields filled in."""
        return f"{self.code} {self.enhanced} {self.text.format(**fields)}"


# RCPT TO
RECIPIENT_OK = Reply(250, "2.1.5", "OK")
UNKNOWN_RECIPIENT = Reply(550, "5.1.1", "No such mailbox here")

# end of DATA (LMTP: once per accepted recipient)
ACCEPTED = Reply(250, "2.0.0", "OK: stored as intake {intake}")
DUPLICATE = Reply(250, "2.0.0", "OK: already stored as intake {intake}")
TEMPORARY_FAILURE = Reply(451, "4.3.0", "Temporary failure storing the message, try again later")

# AUTH (a relay's [smtp] auth_username)
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")

# any time: the daemon is stopping
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, try again later")
