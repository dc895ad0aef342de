"""Changes an agent makes to a ticket (`#commands` by mail), each one in the event log.

Where it sits in the flow: the pipeline parses an agent's reply
(`core.commands.parse_reply`), then `TicketChanges.check` finds what the parser
cannot know (is that address an agent? does the ticket to merge into exist? is
there such a canned response?), and only when nothing at all is wrong does
`apply` make the changes. The caller runs both in its transaction, so a reply
is applied whole or not at all (design invariants 5 and 7).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from maildesk.core.commands import (
    Assign,
    Cc,
    CcAction,
    Command,
    Follow,
    LinkArticle,
    LinkTicket,
    Merge,
    Note,
    Remind,
    ReplyLinked,
    SendHeld,
    SetCategory,
    SetField,
    SetPriority,
    SetRequester,
    SetStatus,
    Snooze,
    SpendTime,
    Split,
    Tag,
    Unfollow,
    Unlink,
    UseTemplate,
)
from maildesk.core.match import TicketLabel
from maildesk.core.routing import route_fields
from maildesk.core.vocabulary import (
    ASSIGNABLE_ROLES,
    DONE_STATUSES,
    RESOLVED,
    WAITING,
    Stamps,
    stamps,
)
from maildesk.knowledge import catalog
from maildesk.settings.desks import Desks
from maildesk.settings.fields import FieldError, Fields
from maildesk.store import repo
from maildesk.store.models import (
    Agent,
    Contact,
    Intake,
    Message,
    Participant,
    Reminder,
    Ticket,
    TicketTag,
)
from maildesk.tickets import followers
from maildesk.tickets.agents import scope_of
from maildesk.tickets.labels import Labels
from maildesk.tickets.links import TicketLinks
from maildesk.tickets.policies import Policies
from maildesk.tickets.sla_clock import SlaTracker
from maildesk.tickets.time_spent import record as record_time

EventLog = Callable[[Ticket, str, str, dict[str, Any]], None]


def set_stamps(ticket: Ticket, status: str, now: dt.datetime) -> None:
    """Stamp `ticket`'s resolution and closing times for its move to `status`."""
    moved = stamps(status, now, Stamps(ticket.resolved_at, ticket.closed_at))
    ticket.resolved_at, ticket.closed_at = moved.resolved_at, moved.closed_at
    # The customer's silence counts from the move to waiting (jobs.waiting_close); any
    # move ends it, and with it the warning that the ticket will be closed.
    ticket.waiting_since = now if status == WAITING else None
    ticket.close_warned_at = None


@dataclass
class Applied:
    """What the changes did, for the mail that follows them."""

    status_set: bool = False  # a command chose the status
    resolved: bool = False  # the ticket became resolved
    assigned_to: Agent | None = None  # the ticket got a new assignee
    merge_target: Ticket | None = None  # `#merge`: the caller merges last, see `merge`
    canned: list[str] = field(default_factory=list)  # template names, in order
    articles: list[str] = field(default_factory=list)  # `#kb`: article slugs, in order
    split: bool = False  # `#split`: the caller splits once it stored the reply
    reply_linked: bool = False  # `#reply-linked`: the caller answers the incident's tickets


class TicketChanges:
    def __init__(
        self,
        db: peewee.Database,
        labels: Labels,
        now: dt.datetime,
        log: EventLog,
        sla: SlaTracker | None = None,
        fields: Fields | None = None,
        desks: Desks | None = None,
        policies: Policies | None = None,
        zone: str = "UTC",
    ) -> None:
        self.db = db
        self.labels = labels
        self.now = now
        self.log = log
        self.sla = sla  # told about status, priority and category changes
        self.fields = fields or Fields(())  # the custom fields `#set` may set
        # The desks, for whom `#assign` may name (None: anyone).
        self.desks = desks
        self.policies = policies  # routing rules on custom fields (None: none tried)
        self.links = TicketLinks(db, labels, now, log, sla)  # `#link`, `#split`, ...
        self.zone = zone  # the desk's time zone, of the dates `#snooze` and `#remind` name

    # -- validation ---------------------------------------------------------------------

    def check(
        self,
        ticket: Ticket,
        commands: Sequence[Command],
        canned_names: Sequence[str],
        actor: Agent | None = None,
        split_ids: Sequence[int] | None = None,
    ) -> list[str]:
        """What is wrong with the commands for this ticket (empty: all can be applied);
        `actor`: the agent giving them, for whom a ticket they do not see is none;
        `split_ids`: the messages a `#split` would move (None: the reply answers no
        message of the ticket)."""
        errors: list[str] = self._link_problems(ticket, commands, actor, split_ids)
        category = _category_after(ticket, commands)
        for command in commands:
            match command:
                case Assign(email=str() as email):
                    agent = _assignable(email)
                    if agent is None or not self._works(agent, ticket, category):
                        errors.append(f"#assign {email}: not an active agent of this desk")
                case Merge(into=label):
                    number = self._merge_number(ticket, label)
                    problem = self._merge_problem(ticket, number, actor)
                    if problem:
                        written = self.labels.written(label, ticket.desk)
                        errors.append(f"#merge {written}: {problem}")
                case SetField(name=name, value=value):
                    try:
                        self.fields.for_ticket(name, ticket.desk, ticket.category).parse(value)
                    except FieldError as exc:
                        errors.append(f"#set {exc}")
                case LinkArticle(slug=slug):
                    if catalog.find(ticket.desk, slug) is None:
                        errors.append(f"#kb {slug}: no published article of this desk")
                case UseTemplate(name=name):
                    if name not in canned_names:
                        known = ", ".join(canned_names) or "none"
                        errors.append(f"#template {name}: no such canned response ({known})")
                case Cc(action=CcAction.REMOVE, email=email):
                    if email not in repo.participant_emails(ticket):
                        errors.append(f"#cc remove {email}: not a CC of this ticket")
                case SetRequester(email=email):
                    if Agent.get_or_none(Agent.email == email) is not None:
                        errors.append(f"#requester {email}: an agent, not a customer")
                case Snooze(until=until) if until is not None:
                    problem = until.problem(self.now, self.zone)
                    if problem:
                        errors.append(f"#snooze {until}: {problem}")
                    elif _status_after(ticket, commands) in DONE_STATUSES:
                        errors.append(
                            f"#snooze {until}: the ticket is {_status_after(ticket, commands)}"
                        )
                case Remind(at=at):
                    problem = at.problem(self.now, self.zone)
                    if problem:
                        errors.append(f"#remind {at}: {problem}")
                case _:
                    pass
        return errors

    def _link_problems(
        self,
        ticket: Ticket,
        commands: Sequence[Command],
        actor: Agent | None,
        split_ids: Sequence[int] | None,
    ) -> list[str]:
        """What is wrong with `#link`, `#incident`, `#unlink`, `#split`, `#reply-linked`."""
        errors: list[str] = []
        for command in commands:
            match command:
                case LinkTicket(other=label) | Unlink(other=label):
                    name = "unlink" if isinstance(command, Unlink) else "link"
                    if isinstance(command, LinkTicket) and command.kind != "related":
                        name = "incident"
                    problem = self._link_problem(ticket, label, actor, name == "unlink")
                    if problem:
                        errors.append(
                            f"#{name} {self.labels.written(label, ticket.desk)}: {problem}"
                        )
                case Split():
                    if split_ids is None:
                        errors.append(
                            "#split: reply to the notification about the customer message to "
                            "split from (on the web: Split from here)"
                        )
                    elif problem := self.links.split_problem(ticket, split_ids):
                        errors.append(f"#split: {problem}")
                case ReplyLinked():
                    if any(isinstance(c, Note) for c in commands):
                        errors.append("#reply-linked: a note goes to nobody")
                    elif not self.links.children(ticket):
                        errors.append(
                            "#reply-linked: no ticket belongs to this incident "
                            "(#incident on them links them)"
                        )
                case _:
                    pass
        return errors

    def _link_problem(
        self, ticket: Ticket, label: TicketLabel, actor: Agent | None, unlinking: bool
    ) -> str:
        other = self.links.find(ticket, label)
        if isinstance(other, str):
            return other
        if actor is not None and not self._works(actor, other, other.category):
            return "no such ticket"
        if unlinking and self.links.between(ticket, other) is None:
            return "not linked to this ticket"
        return ""

    def _merge_number(self, ticket: Ticket, label: TicketLabel) -> int:
        return next(iter(self.labels.numbers([label], ticket.desk)), 0)

    def _merge_problem(self, ticket: Ticket, number: int, actor: Agent | None) -> str:
        target = Ticket.get_or_none(Ticket.number == number)
        if target is None:
            return "no such ticket"
        target = repo.survivor(target)
        if target.desk != ticket.desk:  # another desk's ticket is not there for its agents
            return "no such ticket"
        if actor is not None and not self._works(actor, target, target.category):
            return "no such ticket"  # nor one of a category the agent is not limited to
        if target.id == ticket.id:
            return "that is this ticket"
        return ""

    def _works(self, agent: Agent, ticket: Ticket, category: str | None) -> bool:
        """Whether `agent` sees the ticket, of `category` once the commands applied: of
        their desks and categories (anyone, without desks)."""
        if self.desks is None:
            return True
        scope = scope_of(agent, self.desks)
        return scope is None or scope.covers(ticket.desk, category)

    # -- changes ------------------------------------------------------------------------

    def apply(self, ticket: Ticket, commands: Sequence[Command], actor: Agent) -> Applied:
        """Apply checked commands except `#merge`, whose target is returned: the caller
        merges after it has stored and relayed the reply. Custom fields first: what the
        routing rules on them set, the agent's own commands of the same reply override."""
        applied = Applied()
        for command in sorted(commands, key=lambda c: not isinstance(c, SetField)):
            match command:
                case SetStatus(status=status):
                    applied.status_set = True
                    self.set_status(ticket, status, actor.email)
                case SetPriority(priority=priority):
                    self.set_field(ticket, "priority", priority, actor.email)
                case SetCategory(name=name):
                    self.set_field(ticket, "category", name, actor.email)
                case Assign():
                    agent = actor if command.to_sender else _assignable(command.email)
                    if self.assign(ticket, agent, actor.email) and agent is not None:
                        applied.assigned_to = agent
                case Tag(add=add, remove=remove):
                    self.tag(ticket, add, remove, actor.email)
                case Cc(action=action, email=email):
                    self.cc(ticket, action, email, actor.email)
                case UseTemplate(name=name):
                    applied.canned.append(name)
                case LinkArticle(slug=slug):
                    applied.articles.append(slug)
                    self.log(ticket, actor.email, "kb_linked", {"article": slug})
                case Merge(into=label):
                    number = self._merge_number(ticket, label)
                    applied.merge_target = repo.lock_ticket(self.db, number)
                case SetField(name=name, value=value):
                    definition = self.fields.for_ticket(name, ticket.desk, ticket.category)
                    self.set_custom(ticket, name, definition.parse(value), actor.email)
                case Follow():
                    followers.follow(
                        ticket, actor, followers.FOLLOW, self.now, actor.email, self.log
                    )
                case Unfollow():
                    followers.unfollow(ticket, actor, actor.email, self.log)
                case SetRequester(email=email, name=name):
                    self.set_requester(ticket, email, name, actor.email)
                case LinkTicket(other=label, kind=kind):
                    other = self.links.find(ticket, label)
                    if isinstance(other, Ticket):
                        self.links.link(ticket, other, kind, actor.email)
                case Unlink(other=label):
                    other = self.links.find(ticket, label)
                    if isinstance(other, Ticket):
                        self.links.unlink(ticket, other, actor.email)
                case Split():
                    applied.split = True
                case ReplyLinked():
                    applied.reply_linked = True
                case SpendTime(minutes=minutes):
                    record_time(ticket, actor, minutes, self.now)
                    self.log(ticket, actor.email, "time_logged", {"minutes": minutes})
                case Snooze(until=until):
                    self.snooze(
                        ticket,
                        None if until is None else until.at(self.now, self.zone),
                        actor.email,
                    )
                case Remind(at=at, text=text):
                    self.remind(ticket, actor, at.at(self.now, self.zone), text)
                case Note() | SendHeld():  # `#send`: the pipeline's (pipeline.flow)
                    pass
        applied.resolved = ticket.status == RESOLVED and applied.status_set
        ticket.updated_at = self.now
        ticket.save()
        return applied

    def set_status(self, ticket: Ticket, status: str, actor: str) -> None:
        before = ticket.status
        if before == status:
            return
        ticket.status = status
        set_stamps(ticket, status, self.now)
        if self.sla is not None:
            self.sla.status_changed(ticket, before, self.now)
        self.log(ticket, actor, "status_changed", {"before": before, "after": status})
        if status in DONE_STATUSES:  # the work is over: nothing to wake for
            self.snooze(ticket, None, actor)

    def snooze(self, ticket: Ticket, until: dt.datetime | None, actor: str) -> None:
        """Out of the open queue until `until` (None: back in it now). The SLA clocks go
        on: a snooze is the agent's own reminder, not the customer's wait."""
        before = ticket.snoozed_until
        if before == until:
            return
        ticket.snoozed_until = until
        if until is None:
            self.log(ticket, actor, "unsnoozed", {"until": _iso(before)})
        else:
            self.log(ticket, actor, "snoozed", {"until": _iso(until), "before": _iso(before)})

    def remind(self, ticket: Ticket, agent: Agent, due: dt.datetime, text: str) -> None:
        """A reminder mailed to `agent` at `due` (jobs.snooze)."""
        row = Reminder.create(
            ticket=ticket, agent=agent, due_at=due, text=text, created_at=self.now
        )
        self.log(
            ticket, agent.email, "reminder_set", {"id": row.id, "due": _iso(due), "text": text}
        )

    def set_field(self, ticket: Ticket, name: str, value: str | None, actor: str) -> None:
        before = getattr(ticket, name)
        if before == value:
            return
        setattr(ticket, name, value)
        if self.sla is not None and name in ("priority", "category"):
            self.sla.changed(ticket, name, before, self.now)  # the time elapsed kept
        self.log(ticket, actor, f"{name}_changed", {"before": before, "after": value})

    def set_custom(self, ticket: Ticket, name: str, values: Sequence[str], actor: str) -> bool:
        """A custom field's canonical values (empty: cleared); True when they changed.
        The event log keeps before and after."""
        before, after = repo.set_ticket_field(ticket.id, name, values)
        if before == after:
            return False
        self.log(ticket, actor, "field_changed", {"field": name, "before": before, "after": after})
        self._route_fields(ticket, name, before)
        return True

    def _route_fields(self, ticket: Ticket, name: str, before: list[str]) -> None:
        """The `[[rule]]`s on custom fields that this change makes true act: category
        and priority set (with their SLA targets), tags added, logged as `routed`."""
        rules = () if self.policies is None else self.policies.rules_for(ticket.desk)
        if not any(rule.fields for rule in rules):
            return
        values = repo.ticket_fields(ticket.id)
        routing = route_fields(rules, {**values, name: before}, values)
        if not routing.matched:
            return
        data = {
            "rules": list(routing.matched),
            "field": name,
            "category": routing.category,
            "priority": routing.priority,
            "tags": list(routing.tags),
        }
        self.log(ticket, "system", "routed", data)
        if routing.category is not None:
            self.set_field(ticket, "category", routing.category, "system")
        if routing.priority is not None:
            self.set_field(ticket, "priority", routing.priority, "system")
        self.tag(ticket, routing.tags, (), "system")

    def assign(self, ticket: Ticket, agent: Agent | None, actor: str) -> bool:
        """True when the assignee changed."""
        before = ticket.assignee_id
        after = None if agent is None else agent.id
        if before == after:
            return False
        old = Agent.get_or_none(Agent.id == before) if before else None
        ticket.assignee = agent
        self.log(
            ticket,
            actor,
            "assigned",
            {
                "before": None if old is None else old.email,
                "after": None if agent is None else agent.email,
            },
        )
        return True

    def tag(self, ticket: Ticket, add: Sequence[str], remove: Sequence[str], actor: str) -> None:
        have = set(repo.ticket_tags(ticket))
        added = [t for t in add if t not in have]
        removed = [t for t in remove if t in have]
        for tag in added:
            TicketTag.create(ticket=ticket, tag=tag)
        if removed:
            TicketTag.delete().where(
                (TicketTag.ticket == ticket) & TicketTag.tag.in_(removed)
            ).execute()
        if added or removed:
            self.log(ticket, actor, "tags_changed", {"added": added, "removed": removed})

    def cc(self, ticket: Ticket, action: CcAction, email: str, actor: str) -> None:
        if action is CcAction.ADD:
            contact = repo.contact_for(email, "", self.now)
            if repo.add_participant(ticket, contact, "cc"):
                self.log(ticket, actor, "cc_added", {"email": email})
            return
        removed = (
            Participant.delete()
            .where(
                (Participant.ticket == ticket)
                & (Participant.role == "cc")
                & Participant.contact.in_(Contact.select(Contact.id).where(Contact.email == email))
            )
            .execute()
        )
        if removed:
            self.log(ticket, actor, "cc_removed", {"email": email})

    def set_requester(self, ticket: Ticket, email: str, name: str, actor: str) -> None:
        """`#requester`: the ticket is for `email` from now on (the one before is no
        longer a participant; one who was a CC is the requester now)."""
        contact = repo.contact_for(email, name, self.now)
        before = Contact.get_by_id(ticket.requester_id)
        if before.id == contact.id:
            return
        Participant.delete().where(
            (Participant.ticket == ticket) & Participant.contact.in_([before.id, contact.id])
        ).execute()
        repo.add_participant(ticket, contact, "requester", new_ticket=True)
        ticket.requester = contact
        self.log(ticket, actor, "requester_changed", {"before": before.email, "after": email})

    def merge(self, ticket: Ticket, target: Ticket, actor: str) -> None:
        """`ticket` joins `target`: its messages and people move there, and later mail
        to either lands in `target` (matching follows `merged_into`)."""
        source_label = self.labels.of(ticket)
        target_label = self.labels.of(target)
        moved = Message.update(ticket=target).where(Message.ticket == ticket).execute()
        Intake.update(ticket=target).where(Intake.ticket == ticket).execute()
        for participant in Participant.select().where(Participant.ticket == ticket):
            contact = Contact.get_by_id(participant.contact_id)
            if repo.add_participant(target, contact, "cc"):
                self.log(target, actor, "cc_added", {"email": contact.email})
        self.tag(target, repo.ticket_tags(ticket), (), actor)
        followers.move(ticket, target, self.now, actor, self.log)
        self.set_status(ticket, "closed", actor)
        ticket.merged_into = target
        self.log(ticket, actor, "merged_into", {"ticket": target_label})
        self.log(target, actor, "merged", {"ticket": source_label, "messages": moved})
        target.updated_at = self.now
        target.save()
        ticket.updated_at = self.now
        ticket.save()


def _category_after(ticket: Ticket, commands: Sequence[Command]) -> str | None:
    """The ticket's category once `commands` are applied (the last `#category` wins)."""
    category = ticket.category
    for command in commands:
        if isinstance(command, SetCategory):
            category = command.name
    return category


def _status_after(ticket: Ticket, commands: Sequence[Command]) -> str:
    """The ticket's status once `commands` are applied."""
    status = ticket.status
    for command in commands:
        if isinstance(command, SetStatus):
            status = command.status
    return status


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _assignable(email: str | None) -> Agent | None:
    if email is None:
        return None
    return Agent.get_or_none(
        (Agent.email == email.lower()) & Agent.active & Agent.role.in_(ASSIGNABLE_ROLES)
    )
