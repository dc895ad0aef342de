"""Redelivery across channels, and flood caps keyed on the address without its +tag.

Dedupe keys: intake now computes them over a canonical form of the message
(`core.redelivery`: LF line endings, no trace fields, no mbox quoting, no
trailing whitespace), so the same message by SMTP and from an mbox is one
message. Keys stored before are recomputed here from the stored raw bytes, so a
redelivery of a message taken in before the upgrade is still recognised. It
reads every stored message once, in batches (hashing runs at hundreds of MB a
second; the reading is what it costs). Two stored deliveries that the new
definition finds to be the same message keep distinct keys: the older one takes
the new key, the later one keeps its old one (both are stored; nothing merges).

The models below are frozen copies of the tables at this version, independent of
`maildesk.store.models`, so later model changes never alter this step; the key
itself is computed as intake computes it.
"""

import peewee

from maildesk.core.message import header_message_id
from maildesk.core.redelivery import dedupe_key

BATCH = 200


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Blob(BaseModel):
        sha256 = peewee.CharField(max_length=64, primary_key=True)
        data = peewee.BlobField()

    class Intake(BaseModel):
        raw = peewee.ForeignKeyField(Blob, field="sha256")
        dedupe_key = peewee.CharField(max_length=64, unique=True)

    _recompute_dedupe_keys(Intake, Blob)


def _recompute_dedupe_keys(Intake, Blob):
    last = 0
    while True:
        batch = list(
            Intake.select(Intake.id, Intake.dedupe_key, Blob.data)
            .join(Blob, on=Intake.raw == Blob.sha256)
            .where(Intake.id > last)
            .order_by(Intake.id)
            .limit(BATCH)
            .tuples()
        )
        if not batch:
            return
        for intake_id, old, data in batch:
            raw = bytes(data)
            new = dedupe_key(raw, header_message_id(raw))
            taken = Intake.select().where(Intake.dedupe_key == new).exists()
            if new != old and not taken:
                Intake.update(dedupe_key=new).where(Intake.id == intake_id).execute()
        last = batch[-1][0]
