"""SLA work: when to warn, round-robin state, once-only job marks, and the indexes the
SLA pass, auto-close, the digest and the reports read by.

The model below is a frozen copy of the table at this version, independent of
`maildesk.store.models`, so later model changes never alter this step.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class JobMark(peewee.Model):
        name = peewee.CharField(max_length=64)
        key = peewee.CharField(max_length=255)
        created_at = UTCDateTimeField()

        class Meta:
            database = db
            legacy_table_names = False
            indexes = ((("name", "key"), True),)

    db.create_tables([JobMark])
    migrator.migrate(
        migrator.add_column("ticket", "first_response_warn_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "resolution_warn_at", UTCDateTimeField(null=True)),
        migrator.add_column("agent", "last_assigned", peewee.BigIntegerField(default=0)),
        migrator.add_index("ticket", ("created_at",), False),
    )
    # Partial indexes: the SLA pass reads only the tickets whose clock still runs, so it
    # costs what is due, not what exists; the columns that are mostly NULL are indexed
    # only where set (a full index on them misleads SQLite's planner for `IS NULL`).
    for name, columns, where in PARTIAL_INDEXES:
        db.execute_sql(f'CREATE INDEX "{name}" ON "ticket" ({columns}) WHERE {where}')
    db.execute_sql('DROP INDEX "ticket_merged_into_id"')
    db.execute_sql(
        'CREATE INDEX "ticket_merged_into_id" ON "ticket" ("merged_into_id") '
        'WHERE "merged_into_id" IS NOT NULL'
    )


PARTIAL_INDEXES = (
    (
        "ticket_first_response_running",
        '"first_response_due"',
        '"first_response_breached_at" IS NULL AND "first_response_at" IS NULL',
    ),
    (
        "ticket_resolution_running",
        '"resolution_due"',
        '"resolution_breached_at" IS NULL AND "resolved_at" IS NULL AND "sla_paused_at" IS NULL',
    ),
    (
        "ticket_first_response_warn",
        '"first_response_warn_at"',
        '"first_response_warned_at" IS NULL AND "first_response_breached_at" IS NULL'
        ' AND "first_response_at" IS NULL',
    ),
    (
        "ticket_resolution_warn",
        '"resolution_warn_at"',
        '"resolution_warned_at" IS NULL AND "resolution_breached_at" IS NULL'
        ' AND "resolved_at" IS NULL AND "sla_paused_at" IS NULL',
    ),
    ("ticket_resolved_at", '"resolved_at"', '"resolved_at" IS NOT NULL'),
    (
        "ticket_first_response_breached_at",
        '"first_response_breached_at"',
        '"first_response_breached_at" IS NOT NULL',
    ),
    (
        "ticket_resolution_breached_at",
        '"resolution_breached_at"',
        '"resolution_breached_at" IS NOT NULL',
    ),
    (
        "ticket_open_by_status",
        '"status", "priority", "assignee_id"',
        '"merged_into_id" IS NULL',
    ),
)
