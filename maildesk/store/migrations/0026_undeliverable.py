"""Bounces: an address that does not take our mail.

- `contact.undeliverable_at`: when a permanent delivery failure of mail we sent to the
  address came back (NULL: deliverable, as every existing contact is);
- `contact.undeliverable_reason`: what the bounce said (status and diagnostic).

While set, automatic mail to the address is skipped (`outbound.compose`); it is
cleared when the address writes to us again or an agent clears it. Plain `ALTER
TABLE ... ADD COLUMN` of nullable columns (see 0010): applied in place on both
databases, no table rebuilt.
"""

import peewee


def up(migrator, db):
    timestamp = "TIMESTAMP" if isinstance(db, peewee.PostgresqlDatabase) else "DATETIME"
    for column in (
        f'"undeliverable_at" {timestamp} NULL',
        '"undeliverable_reason" TEXT NULL',
    ):
        db.execute_sql(f'ALTER TABLE "contact" ADD COLUMN {column}')
