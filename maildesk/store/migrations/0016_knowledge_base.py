"""The knowledge base: articles, and their full-text index.

- `article`: one row per article (Markdown body), unique by (desk, slug).
- Search: on SQLite the FTS5 table `article_fts` over title, body and tags, kept in
  step by triggers, with the Porter stemmer (`printers` finds `printer`); on
  PostgreSQL a GIN index `article_search` on the same text as an English tsvector
  (`store.search.ARTICLE_DOCUMENT`): the help center's search ranks by bm25 / ts_rank_cd,
  suggestions read which articles hold each word from it (`knowledge.index`).

The model below is a frozen copy of the table at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField

# As store.search.ARTICLE_DOCUMENT at this version.
PG_DOCUMENT = "to_tsvector('english', \"title\" || ' ' || \"tags\" || ' ' || \"body\")"


def up(migrator, db):
    class Article(peewee.Model):
        desk = peewee.CharField(max_length=64)
        slug = peewee.CharField(max_length=100)
        title = peewee.TextField()
        body = peewee.TextField()
        category = peewee.CharField(max_length=100, default="")
        tags = peewee.TextField(default="")
        published = peewee.BooleanField(default=False)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            database = db
            legacy_table_names = False
            indexes = ((("desk", "slug"), True),)

    db.create_tables([Article])
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(f'CREATE INDEX "article_search" ON "article" USING gin ({PG_DOCUMENT})')
        return
    db.execute_sql(
        'CREATE VIRTUAL TABLE "article_fts" USING fts5("title", "tags", "body", '
        "content='article', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    columns = '"title", "tags", "body"'
    new = 'new."title", new."tags", new."body"'
    old = 'old."title", old."tags", old."body"'
    db.execute_sql(
        'CREATE TRIGGER "article_fts_insert" AFTER INSERT ON "article" BEGIN '
        f'INSERT INTO "article_fts" (rowid, {columns}) VALUES (new."id", {new}); END'
    )
    db.execute_sql(
        'CREATE TRIGGER "article_fts_delete" AFTER DELETE ON "article" BEGIN '
        f'INSERT INTO "article_fts" ("article_fts", rowid, {columns}) '
        f"VALUES ('delete', old.\"id\", {old}); END"
    )
    db.execute_sql(
        f'CREATE TRIGGER "article_fts_update" AFTER UPDATE OF {columns} ON "article" BEGIN '
        f'INSERT INTO "article_fts" ("article_fts", rowid, {columns}) '
        f"VALUES ('delete', old.\"id\", {old}); "
        f'INSERT INTO "article_fts" (rowid, {columns}) VALUES (new."id", {new}); END'
    )
