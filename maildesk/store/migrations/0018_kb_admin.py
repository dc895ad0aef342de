"""Indexes for the knowledge base's report (`queries.kb_report`) and suggestions
(`knowledge.index`).

- `event_kb`: the knowledge-base events (`kb_suggested`, `kb_self_served`,
  `kb_linked`) by time, a partial index: the report counts a period's events of these
  types, which otherwise means reading every event of every ticket (the event table
  has only its ticket index), while the index holds these few types only, so other
  events' writes never touch it. The report's query names the same types, written
  out, so both planners see that the index covers it.
- `article_view_day`: the daily views by day, for a period's sums (the unique index
  starts with the article).
- PostgreSQL: `article_title_search`, a GIN index on the title and tags as an English
  tsvector (`store.search.ARTICLE_TITLE`): which articles hold a word there. Without
  it each article holding the word had its title parsed again (1 ms a word of 200
  articles, bench/kb); SQLite's FTS5 table knows its columns already.
"""

import peewee

# As store.search.ARTICLE_TITLE at this version.
PG_TITLE = "to_tsvector('english', \"title\" || ' ' || \"tags\")"


def up(migrator, db):
    db.execute_sql(
        'CREATE INDEX "event_kb" ON "event" ("at") '
        "WHERE \"type\" IN ('kb_suggested', 'kb_self_served', 'kb_linked')"
    )
    db.execute_sql('CREATE INDEX "article_view_day" ON "article_view" ("day")')
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(f'CREATE INDEX "article_title_search" ON "article" USING gin ({PG_TITLE})')
