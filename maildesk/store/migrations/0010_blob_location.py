"""Blobs may live outside the database: `blob.location` says where the bytes of a row
are (`database`, `filesystem` or `s3`; see `store.blobs`). Existing rows keep their
bytes in the database. A row whose bytes are elsewhere keeps an empty `data`: the
column stays NOT NULL, so SQLite need not rebuild the table (and every table that
refers to it) for this step.
"""

import peewee


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("blob", "location", peewee.CharField(max_length=16, default="database"))
    )
