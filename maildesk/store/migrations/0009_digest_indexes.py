"""An index for the digest's oldest open tickets, and fresh planner statistics.

`queries.sla_report` lists the oldest open tickets as the oldest few of each open
status: `ticket_open_by_created` (status, created_at, id) over the unmerged tickets
gives them in order, so the digest reads a few rows per status instead of sorting
every open ticket (bench/sla: the digest took 6-8 times as long at 100,000 open
tickets as at 1,000).

SQLite: `store.db.upgrade` runs `PRAGMA optimize` after the migrations (and the jobs
runner does, from time to time), so the planner's statistics follow the data.
"""


def up(migrator, db):
    db.execute_sql(
        'CREATE INDEX "ticket_open_by_created" ON "ticket" ("status", "created_at", "id") '
        'WHERE "merged_into_id" IS NULL'
    )
