"""Held replies and time spent.

- `held_reply`: an agent's mailed reply that answered a notification older than what
  others wrote since (a stale reply): not relayed, no command applied, until the agent
  answers `#send` (`state` held -> sent) or writes a newer reply (-> dropped). It
  points at the stored mail (`intake`, run again when sent) and at the internal note
  that shows it on the ticket. Indexed by (ticket, agent, state): `#send` finds it.
- `time_entry`: time an agent spent on a ticket (`#time 25m`, the web reply's field,
  the API), one row per entry; indexed by ticket and by time (the reports' period).

The models below are frozen copies of the tables at this version.
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

    class Agent(BaseModel):
        pass

    class Intake(BaseModel):
        pass

    class Message(BaseModel):
        pass

    class HeldReply(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket, index=False)
        agent = peewee.ForeignKeyField(Agent, index=False)
        intake = peewee.ForeignKeyField(Intake)
        note = peewee.ForeignKeyField(Message, null=True)
        state = peewee.CharField(max_length=16, default="held")
        held_at = UTCDateTimeField()
        done_at = UTCDateTimeField(null=True)

        class Meta:
            indexes = ((("ticket", "agent", "state"), False),)

    class TimeEntry(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket)
        agent = peewee.ForeignKeyField(Agent)
        minutes = peewee.IntegerField()
        at = UTCDateTimeField(index=True)

    db.create_tables([HeldReply, TimeEntry])
