"""Webhooks: the endpoints, their deliveries, and the event log's commit order.

- `event.tx`: on PostgreSQL the id of the transaction that wrote the event (its
  default, `pg_current_xact_id()`), so the webhook cursor (`events.fanout`) reads the
  log in an order no later commit can slip behind: ids come from a sequence, and a
  transaction that took id 10 may commit after one that took id 11, but every event
  of a transaction older than the oldest one still running (the snapshot's xmin) is
  visible. The cursor takes only those, in (tx, id) order. On SQLite one writer at a
  time commits ids in order; the column stays 0 there.
- `webhook`: every endpoint, whether from maildesk.toml (`origin` config, kept in step
  at each start) or added on /admin/webhooks, the API or the CLI (`origin` admin).
- the cursor (`key_value` "webhooks.cursor") starts after the events already there.
- `webhook_delivery`: one row per (endpoint, event), written with the cursor's move
  in one transaction; the body is fixed then, so every attempt sends the same bytes.
  Indexed by state and id (the sender's claims, in order; the lists by state), by
  endpoint, and, for the pending rows only, by (endpoint, ticket, id) (a ticket's
  line) and by due time.

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import JSONTextField, UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Ticket(BaseModel):
        pass

    class Webhook(BaseModel):
        key = peewee.CharField(max_length=300, unique=True)
        origin = peewee.CharField(max_length=16)
        url = peewee.TextField()
        events = JSONTextField(default="[]")
        desk = peewee.CharField(max_length=64, null=True)
        internal = peewee.BooleanField(default=False)
        secret_env = peewee.CharField(max_length=128, default="")
        secret = peewee.TextField(null=True)
        active = peewee.BooleanField(default=True)
        created_at = UTCDateTimeField()
        created_by = peewee.CharField(max_length=320, default="")

    class WebhookDelivery(BaseModel):
        webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE", index=False)
        ticket = peewee.ForeignKeyField(Ticket, null=True, index=False)
        event_id = peewee.BigIntegerField(index=True)
        msg_id = peewee.CharField(max_length=64)
        type = peewee.CharField(max_length=64)
        body = peewee.TextField()
        state = peewee.CharField(max_length=16, default="pending")
        attempts = peewee.IntegerField(default=0)
        next_at = UTCDateTimeField()
        lease_until = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        delivered_at = UTCDateTimeField(null=True)
        last_status = peewee.IntegerField(null=True)
        last_error = peewee.TextField(default="")

        class Meta:
            indexes = ((("state", "id"), False), (("webhook", "id"), False))

    db.create_tables([Webhook, WebhookDelivery])
    # The sender's queue: the pending rows only, so a claim walks them in id order and
    # checks each one's place in its (endpoint, ticket) line on a few index entries,
    # however many deliveries were made before.
    db.execute_sql(
        'CREATE INDEX "webhook_delivery_line" ON "webhook_delivery" '
        '("webhook_id", "ticket_id", "id") WHERE "state" = \'pending\''
    )
    db.execute_sql(
        'CREATE INDEX "webhook_delivery_due" ON "webhook_delivery" ("next_at") '
        "WHERE \"state\" = 'pending'"
    )
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql('ALTER TABLE "event" ADD COLUMN "tx" BIGINT NOT NULL DEFAULT 0')
        db.execute_sql(
            'ALTER TABLE "event" ALTER COLUMN "tx" SET DEFAULT (pg_current_xact_id()::text::bigint)'
        )
        db.execute_sql('CREATE INDEX "event_tx" ON "event" ("tx", "id")')
    else:
        db.execute_sql('ALTER TABLE "event" ADD COLUMN "tx" INTEGER NOT NULL DEFAULT 0')
    # The cursor starts after the events there are now (all of tx 0): an endpoint gets
    # what happens from here on, and from the first event of a new installation, even
    # one taken in before the daemon's first pass.
    last = db.execute_sql('SELECT MAX("id") FROM "event"').fetchone()[0] or 0
    db.execute_sql(
        'INSERT INTO "key_value" ("name", "value") VALUES (%s, %s)'.replace("%s", db.param),
        ("webhooks.cursor", f"0:{last}"),
    )
