"""The ticket vocabulary: statuses and their groups, the moves between them, roles.

Where it sits: the one definition every layer reads (the CLI's `--status` and
`--role` choices, `#status` commands, the pipeline's reaction to a customer's
reply, the SLA clock, the auto-close job, the queue, the reports, web access).
Pure: names, groups and small functions over plain values.

Who moves a ticket, and where:

- an agent (`#status`, the web, the API) may set any status (`tickets.changes`);
- a customer's reply puts the ticket back in the agents' court: `waiting_on_customer`
  becomes `open`, and a resolved ticket, or one closed at most `reopen_days` ago,
  is reopened; a reply to a ticket closed longer ago starts a new ticket that
  follows it (`on_customer_reply`, read by `core.match` and the status page's hint);
- an agent's reply relayed to the customer without a `#status` waits on the customer;
- the auto-close job closes a ticket resolved `auto_close_days` ago.

Every move stamps the ticket the same way (`stamps`): resolving sets `resolved_at`,
closing sets `closed_at` (and `resolved_at` if it had none), and any open status
clears both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

# -- statuses -------------------------------------------------------------------------

NEW = "new"
OPEN = "open"
IN_PROGRESS = "in_progress"
WAITING = "waiting_on_customer"  # pauses the resolution clock
RESOLVED = "resolved"
CLOSED = "closed"

STATUSES = (NEW, OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED)
DONE_STATUSES = (RESOLVED, CLOSED)  # the agents' work is over; the SLA clocks stop
OPEN_STATUSES = tuple(status for status in STATUSES if status not in DONE_STATUSES)
PAUSED_STATUSES = (WAITING, *DONE_STATUSES)  # the resolution clock does not run
# Names a queue filter takes besides the statuses themselves.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {"open": OPEN_STATUSES, "all": STATUSES}

# -- moves ------------------------------------------------------------------------------

AUTO_CLOSE_FROM = RESOLVED  # the one status the auto-close job moves, to CLOSED
AGENT_REPLIED = WAITING  # after an agent's reply reached the customer with no `#status`


class OnReply(StrEnum):
    """What a customer's reply does to the ticket it matched."""

    APPEND = "append"  # joins it; the status stays, but for WAITING (see `replied_status`)
    REOPEN = "reopen"  # joins it and reopens it
    FOLLOW = "follow"  # closed too long ago: a new ticket that follows it


def on_customer_reply(
    status: str, closed_at: dt.datetime | None, now: dt.datetime, reopen_days: int
) -> OnReply:
    if status == RESOLVED:
        return OnReply.REOPEN
    if status != CLOSED:
        return OnReply.APPEND
    if closed_at is None or now - closed_at <= dt.timedelta(days=reopen_days):
        return OnReply.REOPEN
    return OnReply.FOLLOW


def replied_status(status: str, reopen: bool) -> str:
    """The status after a customer's reply joined the ticket (`reopen`: it reopens it)."""
    return OPEN if reopen or status == WAITING else status


@dataclass(frozen=True)
class Stamps:
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None


def stamps(status: str, now: dt.datetime, before: Stamps) -> Stamps:
    """A ticket's resolution and closing times once it has moved to `status` at `now`."""
    if status == RESOLVED:
        return Stamps(now, before.closed_at)
    if status == CLOSED:
        return Stamps(before.resolved_at or now, now)
    return Stamps(None, None)


# -- roles --------------------------------------------------------------------------------

AGENT = "agent"
ADMIN = "admin"
MANAGER = "manager"

ROLES = (AGENT, ADMIN, MANAGER)  # every role may sign in and work tickets on the web
# Who takes tickets: assigned (`#assign`, the web, routing), notified of new mail,
# listed per agent in the SLA report even with nothing assigned. Managers only read.
ASSIGNABLE_ROLES = (AGENT, ADMIN)
REPORT_ROLES = (ADMIN, MANAGER)  # the reports pages
ADMIN_ROLES = (ADMIN,)  # agents, rules, quarantine
KB_ROLES = (ADMIN, MANAGER)  # the knowledge base editor (a manager: their desks' articles)
DIGEST_ROLES = (MANAGER,)  # who gets the daily SLA digest
