"""The satisfaction question asked after a delay (`[tickets] rating_delay_hours`).

- `ticket.rating_asked_at`: when the jobs queued the question (`jobs.rating`), set
  in the transaction that queues its mail, so it is asked once; a partial index of
  the resolved tickets not asked yet, by resolution time, serves the jobs.
"""

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("ticket", "rating_asked_at", UTCDateTimeField(null=True)),
    )
    db.execute_sql(
        'CREATE INDEX "ticket_rating_unasked" ON "ticket" ("resolved_at") '
        'WHERE "rating_asked_at" IS NULL AND "resolved_at" IS NOT NULL'
    )
