"""What the newer API routes answer, as pydantic models: the source of their response
schemas in the OpenAPI document (`openapi`), which the tests hold real answers to.

The documents themselves are built where they always were (`queries.serialize`,
`queries.sla_report`, the routes); these models describe them, field for field, so a
change to one that the description does not follow fails the tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

TIME: JsonDict = {"format": "date-time"}


class Answer(BaseModel):
    """An answer's object: these fields and no others."""

    model_config = ConfigDict(extra="forbid")


# -- events -------------------------------------------------------------------------------


class EventEntry(Answer):
    """One entry of a ticket's event log, as in `maildesk tickets show --json`, with its
    id (what `after` takes)."""

    id: int
    at: str = Field(json_schema_extra=TIME)
    actor: str = Field(description="who: an agent's or customer's address, or system")
    type: str = Field(description="created, status_changed, assigned, ...")
    data: dict[str, Any] = Field(description="what changed (before and after), by type")


class EventPage(Answer):
    """GET /api/tickets/{label}/events: a page of the log, oldest first."""

    ticket: str
    events: list[EventEntry]
    next_after: int | None = Field(
        description="pass as `after` for the next page; null: this page is the last"
    )


# -- bulk changes -------------------------------------------------------------------------


class BulkEntry(Answer):
    """What became of one ticket of a bulk change."""

    ticket: str = Field(description="the ticket's label (as given, when there is no such one)")
    ok: bool = Field(description="true: changed; false: nothing of it was changed")
    errors: list[str]


class BulkResults(Answer):
    """POST /api/tickets/bulk: one entry per ticket, in the order given."""

    changed: int = Field(description="how many tickets were changed")
    results: list[BulkEntry]


# -- the SLA report -----------------------------------------------------------------------


class SlaStat(Answer):
    """One SLA target over a set of tickets; times in seconds of the SLA clock."""

    measured: int = Field(description="tickets whose target counts: met, or breached")
    met: int
    compliance: float | None = Field(ge=0, le=1, description="met / measured")
    average_seconds: float | None
    median_seconds: float | None
    count: int = Field(description="how many durations the average and median are of")


class SlaSection(Answer):
    """A group of tickets: created in the period, resolved in it, and both targets."""

    created: int
    resolved: int
    first_response: SlaStat
    resolution: SlaStat


class SlaAgent(Answer):
    """An agent's tickets: assigned to them and created in the period, resolved in it,
    open now."""

    name: str
    assigned: int
    resolved: int
    open: int
    first_response: SlaStat
    resolution: SlaStat


class SlaReport(Answer):
    """GET /api/reports/sla: the document of `maildesk report sla --json`."""

    since: str = Field(json_schema_extra=TIME)
    until: str = Field(json_schema_extra=TIME)
    created: int
    resolved: int
    first_response: SlaStat
    resolution: SlaStat
    by_priority: dict[str, SlaSection] = Field(description="highest priority first")
    by_category: dict[str, SlaSection] = Field(description='"(none)": no category')
    by_agent: dict[str, SlaAgent] = Field(description="by the agent's address")
