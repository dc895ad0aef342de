"""Snooze, reminders and the auto-close of tickets that wait on the customer.

- `ticket.snoozed_until`: `#snooze` keeps the ticket out of the open queue until then;
  the jobs wake it (`jobs.snooze`), with a partial index of the snoozed tickets.
- `reminder`: `#remind`, one row per reminder; `sent_at` is set in the transaction
  that queues its mail, so each is sent once. A partial index of the unsent ones by
  due time serves the jobs.
- `ticket.waiting_since`: since when it waits on the customer (tickets waiting now
  count from their last update); `ticket.close_warned_at`: when the customer was told
  it will be closed (`jobs.waiting_close`), with a partial index of the waiting tickets.

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Agent(BaseModel):
        pass

    class Ticket(BaseModel):
        pass

    class Reminder(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket, on_delete="CASCADE", index=True)
        agent = peewee.ForeignKeyField(Agent, on_delete="CASCADE", index=False)
        due_at = UTCDateTimeField()
        text = peewee.TextField()
        created_at = UTCDateTimeField()
        sent_at = UTCDateTimeField(null=True)

    migrator.migrate(
        migrator.add_column("ticket", "snoozed_until", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "waiting_since", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "close_warned_at", UTCDateTimeField(null=True)),
    )
    db.create_tables([Reminder])
    db.execute_sql(
        'CREATE INDEX "ticket_snoozed" ON "ticket" ("snoozed_until") '
        'WHERE "snoozed_until" IS NOT NULL'
    )
    db.execute_sql(
        'CREATE INDEX "ticket_waiting" ON "ticket" ("waiting_since") '
        "WHERE \"status\" = 'waiting_on_customer'"
    )
    db.execute_sql('CREATE INDEX "reminder_due" ON "reminder" ("due_at") WHERE "sent_at" IS NULL')
    db.execute_sql(
        'UPDATE "ticket" SET "waiting_since" = "updated_at" '
        "WHERE \"status\" = 'waiting_on_customer'"
    )
