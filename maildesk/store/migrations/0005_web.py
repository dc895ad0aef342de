"""The web view: API tokens, satisfaction ratings, and full-text search over messages.

Search: on SQLite an FTS5 table over the message columns (external content, kept
in step by triggers); on PostgreSQL a GIN index on the same text as a tsvector
(`store.search` queries with the identical expression, so the index is used).

The models below are frozen copies of the tables at this version, independent of
`maildesk.store.models`, so later model changes never alter this step.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField

PG_DOCUMENT = (
    "to_tsvector('simple', \"subject\" || ' ' || \"from_name\" || ' ' || \"from_email\""
    " || ' ' || \"body_text\")"
)


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Agent(BaseModel):
        pass

    class Ticket(BaseModel):
        pass

    class ApiToken(BaseModel):
        agent = peewee.ForeignKeyField(Agent, index=True, on_delete="CASCADE")
        name = peewee.CharField(max_length=100)
        token_hash = peewee.CharField(max_length=64, unique=True)
        created_at = UTCDateTimeField()
        last_used_at = UTCDateTimeField(null=True)
        revoked_at = UTCDateTimeField(null=True)

    class Satisfaction(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket, unique=True, on_delete="CASCADE")
        score = peewee.SmallIntegerField()
        comment = peewee.TextField(default="")
        created_at = UTCDateTimeField(index=True)
        updated_at = UTCDateTimeField()

    db.create_tables([ApiToken, Satisfaction])
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(f'CREATE INDEX "message_search" ON "message" USING gin ({PG_DOCUMENT})')
        return
    db.execute_sql(
        'CREATE VIRTUAL TABLE "message_fts" USING fts5('
        '"subject", "body_text", "from_email", "from_name", '
        "content='message', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    columns = '"subject", "body_text", "from_email", "from_name"'
    new = 'new."subject", new."body_text", new."from_email", new."from_name"'
    old = 'old."subject", old."body_text", old."from_email", old."from_name"'
    db.execute_sql(
        'CREATE TRIGGER "message_fts_insert" AFTER INSERT ON "message" BEGIN '
        f'INSERT INTO "message_fts" (rowid, {columns}) VALUES (new."id", {new}); END'
    )
    db.execute_sql(
        'CREATE TRIGGER "message_fts_delete" AFTER DELETE ON "message" BEGIN '
        f'INSERT INTO "message_fts" ("message_fts", rowid, {columns}) '
        f"VALUES ('delete', old.\"id\", {old}); END"
    )
    db.execute_sql(
        'CREATE TRIGGER "message_fts_update" AFTER UPDATE OF '
        f'{columns} ON "message" BEGIN '
        f'INSERT INTO "message_fts" ("message_fts", rowid, {columns}) '
        f"VALUES ('delete', old.\"id\", {old}); "
        f'INSERT INTO "message_fts" (rowid, {columns}) VALUES (new."id", {new}); END'
    )
    db.execute_sql('INSERT INTO "message_fts" ("message_fts") VALUES (\'rebuild\')')
