"""Links between tickets (`tickets.links`): `#link`, `#incident`, `#split`.

- `ticket_link`: (source, target, kind). `related` is an unordered pair stored with
  the lower ticket id as `source`; `parent` goes from the incident to a ticket it
  answers. Unique by (source, target); a CHECK keeps a ticket from linking to itself.
  Rows go with either ticket (tickets are never deleted, but a test database may be).

The model below is a frozen copy of the table at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Ticket(BaseModel):
        pass

    class TicketLink(BaseModel):
        source = peewee.ForeignKeyField(Ticket, on_delete="CASCADE")
        target = peewee.ForeignKeyField(Ticket, on_delete="CASCADE", index=True)
        kind = peewee.CharField(max_length=16)
        created_at = UTCDateTimeField()
        created_by = peewee.CharField(max_length=320)

        class Meta:
            indexes = ((("source", "target"), True),)
            constraints = [peewee.Check('"source_id" <> "target_id"')]

    db.create_tables([TicketLink])
