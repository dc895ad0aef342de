"""Next-response SLA: after each customer message that follows an agent's answer, the
next answer is due within the priority's next-response target.

- `ticket.next_response_*`: the cycle running now (or the last one): when the customer
  message that started it arrived (`started_at`), its due and warn times, when it was
  answered (`next_response_at`), warned and breached, and its pause (waiting on the
  customer, resolved), as the resolution clock keeps its own.
- `next_response_cycle`: one row per cycle, kept after it ends, so reports count the
  next responses met and breached in a period (indexed by start time, and by ticket
  for the cycle still open).
- partial indexes for the SLA pass and the digest's at-risk list: the cycles that run.

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Ticket(BaseModel):
        pass

    class NextResponseCycle(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket, index=True)
        started_at = UTCDateTimeField(index=True)
        due_at = UTCDateTimeField(null=True)
        answered_at = UTCDateTimeField(null=True)
        breached_at = UTCDateTimeField(null=True)
        business_seconds = peewee.BigIntegerField(null=True)  # start to answer, pauses left out

    db.create_tables([NextResponseCycle])
    migrator.migrate(
        migrator.add_column("ticket", "next_response_started_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "next_response_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "next_response_due", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "next_response_warn_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "next_response_warned_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "next_response_breached_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "next_response_paused_at", UTCDateTimeField(null=True)),
        migrator.add_column(
            "ticket", "next_response_paused_seconds", peewee.BigIntegerField(default=0)
        ),
    )
    for name, columns, where in PARTIAL_INDEXES:
        db.execute_sql(f'CREATE INDEX "{name}" ON "ticket" ({columns}) WHERE {where}')


_RUNNING = (
    '"next_response_breached_at" IS NULL AND "next_response_at" IS NULL'
    ' AND "next_response_paused_at" IS NULL'
)
PARTIAL_INDEXES = (
    ("ticket_next_response_running", '"next_response_due"', _RUNNING),
    (
        "ticket_next_response_warn",
        '"next_response_warn_at"',
        f'"next_response_warned_at" IS NULL AND {_RUNNING}',
    ),
    (
        "ticket_next_response_breached_at",
        '"next_response_breached_at"',
        '"next_response_breached_at" IS NOT NULL',
    ),
)
