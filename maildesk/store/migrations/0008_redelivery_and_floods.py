"""Redelivery across channels, and flood caps keyed on the address without its +tag.

Flood caps: tickets get `rate_key` (the requester's address without its +tag,
`core.addresses.rate_key`) and `rate_domain`, outbox rows `rate_domain`, each
indexed with the creation time, so the hourly caps count
robot+1@, robot+2@, ... as one sender, and a domain as a whole. Only the last
hour counts, so only the rows of the last day are filled in here (outbox
`rate_key`s recomputed the new way too); older rows keep NULL.

Dedupe keys: intake now computes them over a canonical form of the message
(`core.redelivery`: LF line endings, no trace fields, no mbox quoting, no
trailing whitespace), so the same message by SMTP and from an mbox is one
message. Keys stored before are recomputed here from the stored raw bytes, so a
redelivery of a message taken in before the upgrade is still recognised. It
reads every stored message once, in batches (hashing runs at hundreds of MB a
second; the reading is what it costs). Two stored deliveries that the new
definition finds to be the same message keep distinct keys: the older one takes
the new key, the later one keeps its old one (both are stored; nothing merges).

The models below are frozen copies of the tables at this version, independent of
`maildesk.store.models`, so later model changes never alter this step; the key
itself is computed as intake computes it.
"""

import datetime as dt

import peewee

from maildesk.core.addresses import domain_of, rate_key
from maildesk.core.message import header_message_id
from maildesk.core.redelivery import dedupe_key
from maildesk.store.fields import UTCDateTimeField

BATCH = 200
RECENT = dt.timedelta(days=1)


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Blob(BaseModel):
        sha256 = peewee.CharField(max_length=64, primary_key=True)
        data = peewee.BlobField()

    class Intake(BaseModel):
        raw = peewee.ForeignKeyField(Blob, field="sha256")
        dedupe_key = peewee.CharField(max_length=64, unique=True)

    class Contact(BaseModel):
        email = peewee.CharField(max_length=320, unique=True)

    class Ticket(BaseModel):
        requester = peewee.ForeignKeyField(Contact)
        created_at = UTCDateTimeField()
        rate_key = peewee.CharField(max_length=320, null=True)
        rate_domain = peewee.CharField(max_length=320, null=True)

    class Outbox(BaseModel):
        rate_key = peewee.CharField(max_length=320, null=True)
        rate_domain = peewee.CharField(max_length=320, null=True)
        created_at = UTCDateTimeField()

    _recompute_dedupe_keys(Intake, Blob)
    migrator.migrate(
        migrator.add_column("ticket", "rate_key", peewee.CharField(max_length=320, null=True)),
        migrator.add_column("ticket", "rate_domain", peewee.CharField(max_length=320, null=True)),
        migrator.add_column("outbox", "rate_domain", peewee.CharField(max_length=320, null=True)),
        migrator.add_index("ticket", ("rate_key", "created_at"), False),
        migrator.add_index("ticket", ("rate_domain", "created_at"), False),
        migrator.add_index("outbox", ("rate_domain", "created_at"), False),
    )
    since = dt.datetime.now(dt.UTC) - RECENT
    recent = (
        Ticket.select(Ticket.id, Contact.email)
        .join(Contact)
        .where(Ticket.created_at >= since)
        .tuples()
    )
    for ticket_id, email in list(recent):
        Ticket.update(rate_key=rate_key(email), rate_domain=domain_of(email)).where(
            Ticket.id == ticket_id
        ).execute()
    mails = Outbox.select(Outbox.id, Outbox.rate_key).where(
        (Outbox.created_at >= since) & Outbox.rate_key.is_null(False)
    )
    for outbox_id, address in list(mails.tuples()):
        Outbox.update(rate_key=rate_key(address), rate_domain=domain_of(address)).where(
            Outbox.id == outbox_id
        ).execute()


def _recompute_dedupe_keys(Intake, Blob):
    last = 0
    while True:
        batch = list(
            Intake.select(Intake.id, Intake.dedupe_key, Blob.data)
            .join(Blob, on=Intake.raw == Blob.sha256)
            .where(Intake.id > last)
            .order_by(Intake.id)
            .limit(BATCH)
            .tuples()
        )
        if not batch:
            return
        for intake_id, old, data in batch:
            raw = bytes(data)
            new = dedupe_key(raw, header_message_id(raw))
            taken = Intake.select().where(Intake.dedupe_key == new).exists()
            if new != old and not taken:
                Intake.update(dedupe_key=new).where(Intake.id == intake_id).execute()
        last = batch[-1][0]
