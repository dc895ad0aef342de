"""Quarantine entries an admin discarded as junk (kept raw, listed by `quarantine list
--all`, still retriable), and the SLA clocks of a ticket whose category moved it to
another calendar: from `sla_rebased_at` on they count on the new calendar, on top of
the business seconds already elapsed on the old one (`*_carried_seconds`).
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("quarantine", "discarded_at", UTCDateTimeField(null=True)),
        migrator.add_column("ticket", "sla_rebased_at", UTCDateTimeField(null=True)),
        migrator.add_column(
            "ticket", "first_response_carried_seconds", peewee.BigIntegerField(default=0)
        ),
        migrator.add_column(
            "ticket", "resolution_carried_seconds", peewee.BigIntegerField(default=0)
        ),
    )
