"""Peewee models: the tables maildesk keeps (see migrations/ for how they came to be).

Every model runs on the database of the current unit of work (`store.scope`:
`store.db.using(db)` or `write_transaction(db)`); nothing here connects anywhere.
Raw mail and attachment bytes are recorded in `Blob`, addressed by their
SHA-256, so the same bytes are stored once and any instance can serve them; the
bytes are in the row or, per `location`, in a folder or a bucket (`store.blobs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import peewee

from maildesk.store.fields import JSONTextField, UTCDateTimeField
from maildesk.store.scope import UNIT


class BaseModel(peewee.Model):
    if TYPE_CHECKING:  # what peewee adds at run time, spelled out for the type checker
        id = peewee.AutoField()
        DoesNotExist: ClassVar[type[peewee.DoesNotExist]]

    class Meta:
        database = UNIT
        legacy_table_names = False
        only_save_dirty = True  # save() writes the fields that changed, nothing else


class Blob(BaseModel):
    sha256 = peewee.CharField(max_length=64, primary_key=True)
    size = peewee.BigIntegerField()
    data = peewee.BlobField()  # empty when the bytes are elsewhere
    created_at = UTCDateTimeField()
    location = peewee.CharField(max_length=16, default="database")  # store.blobs.BACKENDS


class Contact(BaseModel):
    """A customer (or anyone who wrote to us): one row per lower-cased address.

    One person writing from several addresses is a primary row and the rows merged
    into it (`merged_into`); the person's notes live on the primary, and every row of
    the person carries the person's organization: the one an agent set
    (`organization_explicit`, NULL for none), else the one owning their mail domain
    (`tickets.contacts` keeps this in step)."""

    email = peewee.CharField(max_length=320, unique=True)
    name = peewee.CharField(max_length=500, default="")
    created_at = UTCDateTimeField()
    organization = peewee.DeferredForeignKey(
        "Organization", null=True, backref="contacts", index=True
    )
    organization_explicit = peewee.BooleanField(default=False)  # set by hand, not by domain
    notes = peewee.TextField(default="")  # internal: agents only
    merged_into = peewee.ForeignKeyField("self", null=True, backref="merged", index=True)
    # A permanent bounce of our mail to this address (pipeline.bounces): no automatic
    # mail goes to it until it writes again or an agent clears it.
    undeliverable_at = UTCDateTimeField(null=True)
    undeliverable_reason = peewee.TextField(null=True)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        organization_id: int | None
        merged_into_id: int | None


class Agent(BaseModel):
    email = peewee.CharField(max_length=320, unique=True)
    name = peewee.CharField(max_length=500)
    role = peewee.CharField(max_length=16, default="agent")  # agent | admin | manager
    active = peewee.BooleanField(default=True)
    away = peewee.BooleanField(default=False)
    password_hash = peewee.TextField(null=True)
    created_at = UTCDateTimeField()
    last_assigned = peewee.BigIntegerField(default=0)  # round-robin: sequence of the last one


class Ticket(BaseModel):
    number = peewee.BigIntegerField(unique=True)
    subject = peewee.TextField()
    status = peewee.CharField(max_length=32, index=True)
    priority = peewee.CharField(max_length=32, index=True)
    category = peewee.CharField(max_length=100, null=True, index=True)
    requester = peewee.ForeignKeyField(Contact, backref="tickets", index=True)
    assignee = peewee.ForeignKeyField(Agent, null=True, backref="tickets", index=True)
    automated = peewee.BooleanField(default=False)  # opened by automated mail: never answered
    created_at = UTCDateTimeField(index=True)
    updated_at = UTCDateTimeField(index=True)
    # SLA: due times, clock pauses (waiting_on_customer) and what was already signalled.
    first_response_at = UTCDateTimeField(null=True)
    first_response_due = UTCDateTimeField(null=True, index=True)
    resolution_due = UTCDateTimeField(null=True, index=True)
    first_response_warn_at = UTCDateTimeField(null=True)
    resolution_warn_at = UTCDateTimeField(null=True)
    resolved_at = UTCDateTimeField(null=True)
    closed_at = UTCDateTimeField(null=True)
    sla_paused_at = UTCDateTimeField(null=True)
    sla_paused_seconds = peewee.BigIntegerField(default=0)
    # A category change onto another calendar: the clocks count on the new calendar from
    # `sla_rebased_at`, plus the business seconds elapsed before it on the old ones.
    sla_rebased_at = UTCDateTimeField(null=True)
    first_response_carried_seconds = peewee.BigIntegerField(default=0)
    resolution_carried_seconds = peewee.BigIntegerField(default=0)
    first_response_warned_at = UTCDateTimeField(null=True)
    resolution_warned_at = UTCDateTimeField(null=True)
    first_response_breached_at = UTCDateTimeField(null=True)
    resolution_breached_at = UTCDateTimeField(null=True)
    # Next response: the cycle a customer message started after an agent's answer (the
    # last one, once answered), kept like the clocks above (migrations/0027).
    next_response_started_at = UTCDateTimeField(null=True)
    next_response_at = UTCDateTimeField(null=True)
    next_response_due = UTCDateTimeField(null=True)
    next_response_warn_at = UTCDateTimeField(null=True)
    next_response_warned_at = UTCDateTimeField(null=True)
    next_response_breached_at = UTCDateTimeField(null=True)
    next_response_paused_at = UTCDateTimeField(null=True)
    next_response_paused_seconds = peewee.BigIntegerField(default=0)
    escalation_level = peewee.IntegerField(default=0)
    merged_into = peewee.ForeignKeyField("self", null=True, backref="merged", index=False)
    mailbox = peewee.CharField(max_length=320, null=True)  # our address it came in on
    desk = peewee.CharField(max_length=64, default="")  # slug of its desk (tickets.desks)
    # The number its label shows (`IT-00007`): `number` itself with one sequence for
    # every desk, else its desk's own count ([tickets] numbering). Unique per desk
    # (index `ticket_desk_seq`); `number` stays the ticket's identity inside maildesk
    # (Message-IDs, reply addresses, links between tickets).
    seq = peewee.BigIntegerField(default=0)
    # What the hourly caps on new tickets count (core.addresses): the requester's address
    # without its +tag, and its domain.
    rate_key = peewee.CharField(max_length=320, null=True)
    rate_domain = peewee.CharField(max_length=320, null=True)
    # `#snooze`: out of the open queue until then (jobs.snooze wakes it); since when it
    # waits on the customer, and when the customer was told it will close (jobs.waiting_close).
    snoozed_until = UTCDateTimeField(null=True)
    waiting_since = UTCDateTimeField(null=True)
    close_warned_at = UTCDateTimeField(null=True)
    # When the satisfaction question went out after its delay (jobs.rating): asked once.
    rating_asked_at = UTCDateTimeField(null=True)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        requester_id: int
        assignee_id: int | None
        merged_into_id: int | None

    @classmethod
    def unmerged(cls) -> peewee.Expression:
        """The condition for live tickets: those not merged into another one. Every
        list, count and job reads these only (a merged ticket lives on in its survivor)."""
        return cls.merged_into.is_null()

    class Meta:
        # More indexes, partial ones for the SLA pass, the open-ticket counts and the
        # digest's oldest open tickets among them, are made by migrations/0004_sla.py
        # and 0009_digest_indexes.py (peewee models do not describe them).
        indexes = (
            (("requester", "created_at"), False),
            (("rate_key", "created_at"), False),
            (("rate_domain", "created_at"), False),
            (("desk", "seq"), True),
        )


class NextResponseCycle(BaseModel):
    """One next-response cycle of a ticket: from the customer message that started it
    to the agent's answer; kept for the reports (`queries.sla_report`)."""

    ticket = peewee.ForeignKeyField(Ticket, backref="next_response_cycles", index=True)
    started_at = UTCDateTimeField(index=True)
    due_at = UTCDateTimeField(null=True)
    answered_at = UTCDateTimeField(null=True)
    breached_at = UTCDateTimeField(null=True)
    business_seconds = peewee.BigIntegerField(null=True)  # start to answer, pauses left out

    if TYPE_CHECKING:
        ticket_id: int


class TicketTag(BaseModel):
    ticket = peewee.ForeignKeyField(Ticket, backref="tag_rows", on_delete="CASCADE")
    tag = peewee.CharField(max_length=100, index=True)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int

    class Meta:
        indexes = ((("ticket", "tag"), True),)


class TicketLink(BaseModel):
    """Two tickets that belong together (`tickets.links`). `related`: an unordered pair,
    kept with the lower ticket id as `source`; `parent`: `source` is the incident,
    `target` one of the tickets it answers (`#reply-linked`). One link per pair, never a
    ticket with itself, both of one desk (migrations/0023)."""

    source = peewee.ForeignKeyField(Ticket, backref="links_out", on_delete="CASCADE")
    target = peewee.ForeignKeyField(Ticket, backref="links_in", on_delete="CASCADE", index=True)
    kind = peewee.CharField(max_length=16)  # related | parent
    created_at = UTCDateTimeField()
    created_by = peewee.CharField(max_length=320)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        source_id: int
        target_id: int

    class Meta:
        indexes = ((("source", "target"), True),)
        constraints = [peewee.Check('"source_id" <> "target_id"')]


class Participant(BaseModel):
    """Who may write into a ticket besides agents: its requester and CCs."""

    ticket = peewee.ForeignKeyField(Ticket, backref="participants", on_delete="CASCADE")
    contact = peewee.ForeignKeyField(Contact, backref="participations", index=True)
    role = peewee.CharField(max_length=16)  # requester | cc

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int
        contact_id: int

    class Meta:
        indexes = ((("ticket", "contact"), True),)


class Intake(BaseModel):
    """Every accepted message, committed raw before anything else happens to it."""

    # `raw` shadows peewee's Model.raw() (raw SQL), which maildesk never calls on these.
    raw = peewee.ForeignKeyField(Blob, field="sha256")  # type: ignore[assignment]
    dedupe_key = peewee.CharField(max_length=64, unique=True)
    message_id = peewee.TextField(null=True)
    source = peewee.TextField()
    envelope_from = peewee.TextField(null=True)
    envelope_to = JSONTextField(default="[]")
    received_at = UTCDateTimeField()
    state = peewee.CharField(max_length=16, index=True, default="pending")
    action = peewee.CharField(
        max_length=16, null=True
    )  # created | appended | ignored | quarantined
    reason = peewee.TextField(null=True)
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="intakes")
    processed_at = UTCDateTimeField(null=True)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        raw_id: str
        ticket_id: int | None


class Quarantine(BaseModel):
    """A message the pipeline failed on: kept with its error until a retry succeeds.
    Open while `resolved_at` and `discarded_at` are both unset; a discarded entry (junk,
    set aside by an admin) keeps its raw message and can still be retried."""

    intake = peewee.ForeignKeyField(Intake, unique=True, backref="quarantine")
    error = peewee.TextField()
    traceback = peewee.TextField()
    attempts = peewee.IntegerField(default=1)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    resolved_at = UTCDateTimeField(null=True, index=True)
    discarded_at = UTCDateTimeField(null=True)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        intake_id: int


class Message(BaseModel):
    ticket = peewee.ForeignKeyField(Ticket, backref="messages", index=True)
    intake = peewee.ForeignKeyField(Intake, null=True, backref="messages")
    message_id = peewee.TextField(null=True, index=True)
    in_reply_to = JSONTextField(default="[]")
    references = JSONTextField(default="[]")
    direction = peewee.CharField(max_length=16)  # inbound | outbound
    kind = peewee.CharField(max_length=16)  # customer | agent | note | system
    mail_kind = peewee.CharField(max_length=16, default="human")  # core.autoreply.MailKind
    flagged = peewee.BooleanField(default=False)
    flag_reason = peewee.TextField(null=True)
    from_email = peewee.CharField(max_length=320)
    from_name = peewee.CharField(max_length=500, default="")
    to = JSONTextField(default="[]")
    cc = JSONTextField(default="[]")
    subject = peewee.TextField()
    body_text = peewee.TextField()
    body_html = peewee.TextField(null=True)
    sent_at = UTCDateTimeField(null=True)  # the Date header
    created_at = UTCDateTimeField(index=True)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int
        intake_id: int | None


class Attachment(BaseModel):
    message = peewee.ForeignKeyField(Message, backref="attachments", index=True)
    blob = peewee.ForeignKeyField(Blob, field="sha256")
    filename = peewee.TextField()
    content_type = peewee.CharField(max_length=255)
    size = peewee.BigIntegerField()
    content_id = peewee.TextField(null=True)
    inline = peewee.BooleanField(default=False)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        message_id: int
        blob_id: str


class Event(BaseModel):
    """The audit log: every change to a ticket, who made it, before and after. The
    knowledge base's events are also indexed by time (`event_kb`, a partial index,
    migrations/0018_kb_admin.py) for its report."""

    ticket = peewee.ForeignKeyField(Ticket, backref="events", index=True)
    at = UTCDateTimeField()
    actor = peewee.CharField(max_length=320)
    type = peewee.CharField(max_length=64)
    data = JSONTextField(default="{}")
    # PostgreSQL: the writing transaction's id, the database's default (no default
    # here, so inserts leave it to the database); 0 on SQLite. migrations/0019.
    tx = peewee.BigIntegerField(null=True)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int


class Outbox(BaseModel):
    """Every mail maildesk sends, written in the same transaction as the ticket change
    that caused it; the outbox worker (`outbound.worker`) delivers it."""

    message_id = peewee.TextField(unique=True)  # fixed at creation: a resend is the same mail
    purpose = peewee.CharField(max_length=32)  # ack | agent_reply | notify_new | ...
    audience = peewee.CharField(max_length=16)  # customer | agents
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="outbox", index=True)
    ticket_message = peewee.ForeignKeyField(Message, null=True, backref="outbox", index=True)
    automatic = peewee.BooleanField(default=False)  # carries Auto-Submitted
    envelope_from = peewee.CharField(max_length=320)
    recipients = JSONTextField(default="[]")
    rate_key = peewee.CharField(max_length=320, null=True)  # address the hourly cap counts
    rate_domain = peewee.CharField(max_length=320, null=True)  # its domain, for the domain cap
    subject = peewee.TextField()
    draft = JSONTextField(null=True)  # outbound.draft: what to compose, until it is
    raw = peewee.BlobField(null=True)  # type: ignore[assignment]  # the bytes, composed once
    # pending | sent | failed | held (over a cap: kept, not sent, the reason in last_error)
    status = peewee.CharField(max_length=16, default="pending")
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField()
    lease_until = UTCDateTimeField(null=True)  # a worker is sending it until then
    give_up_at = UTCDateTimeField()
    last_error = peewee.TextField(null=True)
    created_at = UTCDateTimeField(index=True)
    sent_at = UTCDateTimeField(null=True)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int | None
        ticket_message_id: int | None

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("rate_key", "created_at"), False),
            (("rate_domain", "created_at"), False),
        )


class ApiToken(BaseModel):
    """A token for the JSON API, acting as its agent; only its SHA-256 is kept."""

    agent = peewee.ForeignKeyField(Agent, backref="api_tokens", index=True, on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField()
    last_used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        agent_id: int


class Satisfaction(BaseModel):
    """The customer's rating of a resolved ticket (1-5 and a comment), one per ticket."""

    ticket = peewee.ForeignKeyField(
        Ticket, unique=True, backref="satisfaction", on_delete="CASCADE"
    )
    score = peewee.SmallIntegerField()
    comment = peewee.TextField(default="")
    created_at = UTCDateTimeField(index=True)
    updated_at = UTCDateTimeField()
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int


class WebSession(BaseModel):
    """A signed-in browser: its session cookie names this row (by the SHA-256 of a
    random id). Signing out deletes the row, so a copied cookie stops working."""

    agent = peewee.ForeignKeyField(Agent, backref="web_sessions", index=True, on_delete="CASCADE")
    sid_hash = peewee.CharField(max_length=64, unique=True)
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)


class AgentDesk(BaseModel):
    """A desk an agent works; an agent without any works the default desk."""

    agent = peewee.ForeignKeyField(Agent, backref="desk_rows", on_delete="CASCADE")
    desk = peewee.CharField(max_length=64)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        agent_id: int

    class Meta:
        indexes = ((("agent", "desk"), True),)


class AgentCategory(BaseModel):
    """A category an agent (or manager) is limited to: with any, they see the tickets
    of their desks in these categories only; without any, every category."""

    agent = peewee.ForeignKeyField(Agent, backref="category_rows", on_delete="CASCADE")
    category = peewee.CharField(max_length=100)  # as configured in [[category]]
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        agent_id: int

    class Meta:
        indexes = ((("agent", "category"), True),)


class TicketField(BaseModel):
    """A custom field's value on a ticket, in canonical text (`tickets.fields`); a
    multiselect keeps one row per chosen option."""

    ticket = peewee.ForeignKeyField(Ticket, backref="field_rows", on_delete="CASCADE", index=False)
    name = peewee.CharField(max_length=64)
    value = peewee.TextField()
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        ticket_id: int

    class Meta:
        indexes = ((("ticket", "name", "value"), True), (("name", "value", "ticket"), False))


class JobMark(BaseModel):
    """A job done once per key (the daily digest per manager and day): the unique row
    decides, so a restart or a second instance never repeats it."""

    name = peewee.CharField(max_length=64)
    key = peewee.CharField(max_length=255)
    created_at = UTCDateTimeField()

    class Meta:
        indexes = ((("name", "key"), True),)


class Counter(BaseModel):
    """Named sequences on SQLite (PostgreSQL uses a real SEQUENCE)."""

    name = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.BigIntegerField()


class KeyValue(BaseModel):
    """Small pieces of state kept by maildesk itself (e.g. a generated secret key)."""

    name = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.TextField()


class ImapState(BaseModel):
    """Where the IMAP poller stands in one mailbox folder: its UIDVALIDITY and the
    highest UID taken in (used when messages are flagged \\Seen rather than moved)."""

    host = peewee.CharField(max_length=255)
    port = peewee.IntegerField()
    username = peewee.CharField(max_length=320)
    folder = peewee.CharField(max_length=500)
    uidvalidity = peewee.BigIntegerField()
    last_uid = peewee.BigIntegerField(default=0)

    class Meta:
        indexes = ((("host", "port", "username", "folder"), True),)


class Organization(BaseModel):
    """A customer organization: its contacts (`Contact.organization`), the mail domains
    it owns, internal notes, and whether its members see each other's tickets on their
    status pages."""

    name = peewee.CharField(max_length=200)
    name_key = peewee.CharField(max_length=200, unique=True)  # core.organizations.name_key
    notes = peewee.TextField(default="")  # internal: agents only
    shared_tickets = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()


class OrganizationDomain(BaseModel):
    """A mail domain an organization owns (and its subdomains, unless another one owns a
    more specific one): one owner per domain."""

    organization = peewee.ForeignKeyField(
        Organization, backref="domain_rows", index=True, on_delete="CASCADE"
    )
    domain = peewee.CharField(max_length=253, unique=True)
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        organization_id: int


class ContactField(BaseModel):
    """A custom field's value on a person (their primary `Contact` row), as
    `TicketField` keeps a ticket's."""

    contact = peewee.ForeignKeyField(
        Contact, backref="field_rows", on_delete="CASCADE", index=False
    )
    name = peewee.CharField(max_length=64)
    value = peewee.TextField()
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        contact_id: int

    class Meta:
        indexes = ((("contact", "name", "value"), True), (("name", "value", "contact"), False))


class OrganizationField(BaseModel):
    """A custom field's value on an organization, as `TicketField` keeps a ticket's."""

    organization = peewee.ForeignKeyField(
        Organization, backref="field_rows", on_delete="CASCADE", index=False
    )
    name = peewee.CharField(max_length=64)
    value = peewee.TextField()
    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        organization_id: int

    class Meta:
        indexes = (
            (("organization", "name", "value"), True),
            (("name", "value", "organization"), False),
        )


class Article(BaseModel):
    """A knowledge-base article: Markdown, of one desk, found by its slug there. Its
    full-text index (SQLite FTS5 `article_fts`, PostgreSQL GIN `article_search`) is
    made by migrations/0016_knowledge_base.py and kept in step by triggers (SQLite)."""

    desk = peewee.CharField(max_length=64)
    slug = peewee.CharField(max_length=100)
    title = peewee.TextField()
    body = peewee.TextField()  # Markdown
    category = peewee.CharField(max_length=100, default="")
    tags = peewee.TextField(default="")  # space-separated
    published = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        indexes = ((("desk", "slug"), True),)


class ArticleVote(BaseModel):
    """Answers to "Did this answer your question?": one per article and ticket (from a
    signed suggestion link) or per article and visitor (a hashed cookie of the help
    center), the later answer replacing the earlier one."""

    article = peewee.ForeignKeyField(Article, on_delete="CASCADE", index=False)
    ticket = peewee.ForeignKeyField(Ticket, null=True, on_delete="CASCADE", index=False)
    visitor = peewee.CharField(max_length=64, null=True)  # without a ticket
    helpful = peewee.BooleanField()
    created_at = UTCDateTimeField(index=True)

    if TYPE_CHECKING:  # the raw key columns peewee adds for each foreign key
        article_id: int
        ticket_id: int | None

    class Meta:
        indexes = (
            (("article", "ticket"), True),
            (("article", "visitor"), True),
        )


class ArticleView(BaseModel):
    """How often an article was opened, per day (UTC); also indexed by day
    (`article_view_day`, migration 0018) for a period's sums."""

    article = peewee.ForeignKeyField(Article, on_delete="CASCADE", index=False)
    day = peewee.DateField()
    views = peewee.IntegerField(default=0)

    if TYPE_CHECKING:
        article_id: int

    class Meta:
        indexes = ((("article", "day"), True),)


class Webhook(BaseModel):
    """An endpoint that receives signed events (`events`): from maildesk.toml (`origin`
    config, `key` "config:" + its name or URL, kept in step at each start) or added by
    an admin (`origin` admin, with a secret maildesk generated)."""

    key = peewee.CharField(max_length=300, unique=True)
    origin = peewee.CharField(max_length=16)  # config | admin
    url = peewee.TextField()
    events = JSONTextField(default="[]")  # public event names, or ["*"]
    desk = peewee.CharField(max_length=64, null=True)  # a desk's slug; None: every desk
    internal = peewee.BooleanField(default=False)  # internal notes and events too
    secret_env = peewee.CharField(max_length=128, default="")  # the secret's variable, or
    secret = peewee.TextField(null=True)  # the secret itself (whsec_...), admin hooks
    active = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField()
    created_by = peewee.CharField(max_length=320, default="")


class WebhookPayload(BaseModel):
    """The body every endpoint gets for one event: the JSON sent, fixed when written."""

    event_id = peewee.BigIntegerField(unique=True)
    body = peewee.TextField()
    created_at = UTCDateTimeField()


class WebhookDelivery(BaseModel):
    """One event for one endpoint: written with the cursor's move (`events.fanout`),
    sent and retried by `events.deliveries` until delivered or given up (failed)."""

    webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE", index=False)
    ticket = peewee.ForeignKeyField(Ticket, null=True, index=False)
    event_id = peewee.BigIntegerField(index=True)
    msg_id = peewee.CharField(max_length=64)  # webhook-id: the same for every attempt
    type = peewee.CharField(max_length=64)  # ticket.created, ...
    payload = peewee.ForeignKeyField(WebhookPayload, null=True, index=False)  # the body
    state = peewee.CharField(max_length=16, default="pending")  # pending|delivered|failed
    attempts = peewee.IntegerField(default=0)
    next_at = UTCDateTimeField()
    lease_until = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()
    delivered_at = UTCDateTimeField(null=True)
    last_status = peewee.IntegerField(null=True)  # the receiver's HTTP status
    last_error = peewee.TextField(default="")
    if TYPE_CHECKING:
        webhook_id: int
        ticket_id: int | None
        payload_id: int | None

    class Meta:  # and two partial indexes of the pending rows: migrations/0019
        indexes = ((("state", "id"), False), (("webhook", "id"), False))


class Follower(BaseModel):
    """An agent who follows a ticket: they hear of its later customer messages and
    internal notes (`tickets.followers`)."""

    ticket = peewee.ForeignKeyField(Ticket, backref="followers", on_delete="CASCADE")
    agent = peewee.ForeignKeyField(Agent, backref="following", on_delete="CASCADE")
    since = UTCDateTimeField()
    how = peewee.CharField(max_length=16)  # mention | follow
    if TYPE_CHECKING:
        ticket_id: int
        agent_id: int

    class Meta:
        indexes = ((("ticket", "agent"), True),)


class HeldReply(BaseModel):
    """An agent's mailed reply held as stale (it answered a notification older than
    what others wrote since): `held` until `#send` sends it (`sent`) or a newer reply
    of theirs replaces it (`dropped`). `intake`: the mail, run again when sent; `note`:
    the internal note showing it on the ticket. Migration 0025."""

    ticket = peewee.ForeignKeyField(Ticket, index=False)
    agent = peewee.ForeignKeyField(Agent, index=False)
    intake = peewee.ForeignKeyField(Intake)
    note = peewee.ForeignKeyField(Message, null=True)
    state = peewee.CharField(max_length=16, default="held")  # held | sent | dropped
    held_at = UTCDateTimeField()
    done_at = UTCDateTimeField(null=True)
    if TYPE_CHECKING:
        ticket_id: int
        agent_id: int
        intake_id: int
        note_id: int | None

    class Meta:
        indexes = ((("ticket", "agent", "state"), False),)


class TimeEntry(BaseModel):
    """Time an agent spent on a ticket (`#time 25m`). Migration 0025."""

    ticket = peewee.ForeignKeyField(Ticket, index=True)
    agent = peewee.ForeignKeyField(Agent, index=True)
    minutes = peewee.IntegerField()
    at = UTCDateTimeField(index=True)
    if TYPE_CHECKING:
        ticket_id: int
        agent_id: int


class Reminder(BaseModel):
    """`#remind`: a mail to `agent` about `ticket` at `due_at`; `sent_at` once queued
    (jobs.snooze claims it in the transaction that queues the mail)."""

    ticket = peewee.ForeignKeyField(Ticket, backref="reminders", on_delete="CASCADE")
    agent = peewee.ForeignKeyField(Agent, on_delete="CASCADE", index=False)
    due_at = UTCDateTimeField()
    text = peewee.TextField()
    created_at = UTCDateTimeField()
    sent_at = UTCDateTimeField(null=True)
    if TYPE_CHECKING:
        ticket_id: int
        agent_id: int

    # and a partial index of the unsent ones by due time: migrations/0024


class PortalToken(BaseModel):
    """A sign-in link to the customer portal (/portal), mailed to `contact`: only the
    SHA-256 of its token is kept; it signs in once (`used_at`), until `expires_at`.
    `client`: the address that asked for it (for the admin, and the limits)."""

    token_hash = peewee.CharField(max_length=64, unique=True)
    contact = peewee.ForeignKeyField(Contact, backref="portal_tokens", on_delete="CASCADE")
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)
    used_at = UTCDateTimeField(null=True)
    client = peewee.CharField(max_length=64, default="")
    if TYPE_CHECKING:
        contact_id: int


class PortalSession(BaseModel):
    """A customer signed in to the portal in one browser (its cookie names this row by
    the SHA-256 of a random id). Separate from agents' `WebSession`: revoking one
    (`revoked_at`) ends it, whatever its cookie says."""

    sid_hash = peewee.CharField(max_length=64, unique=True)
    contact = peewee.ForeignKeyField(
        Contact, backref="portal_sessions", index=True, on_delete="CASCADE"
    )
    created_at = UTCDateTimeField()
    last_seen_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)
    revoked_at = UTCDateTimeField(null=True)
    if TYPE_CHECKING:
        contact_id: int


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Blob,
    Contact,
    Agent,
    Ticket,
    NextResponseCycle,
    TicketTag,
    TicketLink,
    Participant,
    Intake,
    Quarantine,
    Message,
    Attachment,
    Event,
    Counter,
    KeyValue,
    ImapState,
    Outbox,
    JobMark,
    ApiToken,
    Satisfaction,
    WebSession,
    AgentDesk,
    AgentCategory,
    TicketField,
    Organization,
    OrganizationDomain,
    ContactField,
    OrganizationField,
    Article,
    ArticleVote,
    ArticleView,
    Webhook,
    WebhookPayload,
    WebhookDelivery,
    Follower,
    HeldReply,
    TimeEntry,
    Reminder,
    PortalToken,
    PortalSession,
)
