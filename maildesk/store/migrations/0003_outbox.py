"""Outbound mail: the outbox table, and the desk address each ticket came in on.

The model below is a frozen copy of the table at this version, independent of
`maildesk.store.models`, so later model changes never alter this step.
"""

import peewee

from maildesk.store.fields import JSONTextField, UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Ticket(BaseModel):
        pass

    class Message(BaseModel):
        pass

    class Outbox(BaseModel):
        message_id = peewee.TextField(unique=True)
        purpose = peewee.CharField(max_length=32)
        audience = peewee.CharField(max_length=16)
        ticket = peewee.ForeignKeyField(Ticket, null=True, index=True)
        ticket_message = peewee.ForeignKeyField(Message, null=True, index=True)
        automatic = peewee.BooleanField(default=False)
        envelope_from = peewee.CharField(max_length=320)
        recipients = JSONTextField(default="[]")
        rate_key = peewee.CharField(max_length=320, null=True)
        subject = peewee.TextField()
        draft = JSONTextField(null=True)
        raw = peewee.BlobField(null=True)
        status = peewee.CharField(max_length=16, default="pending")
        attempts = peewee.IntegerField(default=0)
        next_attempt_at = UTCDateTimeField()
        lease_until = UTCDateTimeField(null=True)
        give_up_at = UTCDateTimeField()
        last_error = peewee.TextField(null=True)
        created_at = UTCDateTimeField(index=True)
        sent_at = UTCDateTimeField(null=True)

        class Meta:
            indexes = (
                (("status", "next_attempt_at"), False),
                (("rate_key", "created_at"), False),
            )

    db.create_tables([Outbox])
    migrator.migrate(
        migrator.add_column("ticket", "mailbox", peewee.CharField(max_length=320, null=True)),
        migrator.add_index("ticket", ("requester_id", "created_at"), False),
    )
