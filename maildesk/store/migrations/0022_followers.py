"""Followers of tickets.

- `follower`: an agent who follows a ticket (`tickets.followers`): since when, and how
  they came to (`mention`: named with @ in an internal note; `follow`: `#follow`, the
  ticket page's button or the API). One row per (ticket, agent), through the unique
  index; read by ticket. `#merge` moves the rows to the surviving ticket.

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Agent(BaseModel):
        pass

    class Ticket(BaseModel):
        pass

    class Follower(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket, on_delete="CASCADE")
        agent = peewee.ForeignKeyField(Agent, on_delete="CASCADE")
        since = UTCDateTimeField()
        how = peewee.CharField(max_length=16)

        class Meta:
            indexes = ((("ticket", "agent"), True),)

    db.create_tables([Follower])
