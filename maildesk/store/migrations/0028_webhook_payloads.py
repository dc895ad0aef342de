"""Webhook bodies kept once per event, not once per endpoint.

Every endpoint that takes an event gets the same bytes, so `webhook_payload` holds
each event's body once and `webhook_delivery` points at it: ten endpoints no longer
mean ten copies of each body, and each claim and result, which rewrites the
delivery's row, no longer rewrites a body with it. The bodies already written move
over, one per event.

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class WebhookPayload(BaseModel):
        event_id = peewee.BigIntegerField(unique=True)
        body = peewee.TextField()
        created_at = UTCDateTimeField()

    db.create_tables([WebhookPayload])
    db.execute_sql(
        'INSERT INTO "webhook_payload" ("event_id", "body", "created_at") '
        'SELECT "event_id", MIN("body"), MIN("created_at") FROM "webhook_delivery" '
        'GROUP BY "event_id"'
    )
    db.execute_sql('ALTER TABLE "webhook_delivery" ADD COLUMN "payload_id" BIGINT')
    db.execute_sql(
        'UPDATE "webhook_delivery" SET "payload_id" = (SELECT p."id" FROM "webhook_payload" '
        'AS p WHERE p."event_id" = "webhook_delivery"."event_id")'
    )
    db.execute_sql('ALTER TABLE "webhook_delivery" DROP COLUMN "body"')
