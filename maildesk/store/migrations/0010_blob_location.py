"""Blobs may live outside the database: `blob.location` says where the bytes of a row
are (`database`, `filesystem` or `s3`; see `store.blobs`). Existing rows keep their
bytes in the database. A row whose bytes are elsewhere keeps an empty `data`: the
column stays NOT NULL.

One plain `ALTER TABLE ... ADD COLUMN ... NOT NULL DEFAULT`, which both databases
apply in place: playhouse's `add_column` adds a NOT NULL column on SQLite by
rebuilding the table, which the foreign keys of `intake` and `attachment` refuse
(and which would copy every stored byte once).
"""


def up(migrator, db):
    db.execute_sql(
        'ALTER TABLE "blob" ADD COLUMN "location" VARCHAR(16) NOT NULL DEFAULT \'database\''
    )
