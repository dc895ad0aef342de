"""Live updates across instances (`events.live`, `events.notify`): on PostgreSQL, every
statement that adds to the event log NOTIFYs the channel of its schema, so each
instance's follower reads the new rows as soon as they are committed.

A trigger rather than a NOTIFY sent by the code after its commits: every writer of
events (the pipeline of any instance, the web, `maildesk ingest`, the jobs, and any
added later) notifies without having to remember to, and NOTIFY is transactional, so
nothing is announced that was rolled back. Once per statement with an empty payload:
PostgreSQL folds equal notifications of one transaction into one, so a message that
writes several events wakes each instance once; the follower reads the rows by id.
SQLite has no other instances: its follower polls the log (by primary key).
"""

import peewee


def up(migrator, db):
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    db.execute_sql(
        "CREATE FUNCTION maildesk_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify(left('maildesk_live_' || current_schema(), 63), ''); "
        "RETURN NULL; END $$"
    )
    db.execute_sql(
        'CREATE TRIGGER "event_live" AFTER INSERT ON "event" '
        "FOR EACH STATEMENT EXECUTE FUNCTION maildesk_live_notify()"
    )
