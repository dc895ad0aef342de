"""Several desks in one instance, and custom fields on tickets.

- `ticket.desk`: the slug of the desk a ticket belongs to. Existing tickets get an
  empty slug here; the composition root moves them into the configured default desk
  when it opens the database (`store.repo.adopt_tickets`), since only the
  configuration knows which desk that is.
- `agent_desk`: which desks an agent works (none: the default desk only).
- `ticket_field`: custom field values, one row per value (a multiselect has one row
  per chosen option), canonical text. Filtering a queue on a field reads the
  (name, value, ticket) index, or probes (ticket, name, value) per candidate ticket
  (`queries.ticket_list`), not the tickets.

One plain `ALTER TABLE ... ADD COLUMN ... NOT NULL DEFAULT` for the column (see
0010). The models below are frozen copies of the tables at this version.
"""

import peewee


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Agent(BaseModel):
        pass

    class Ticket(BaseModel):
        pass

    class AgentDesk(BaseModel):
        agent = peewee.ForeignKeyField(Agent, on_delete="CASCADE")
        desk = peewee.CharField(max_length=64)

        class Meta:
            indexes = ((("agent", "desk"), True),)

    class TicketField(BaseModel):
        ticket = peewee.ForeignKeyField(Ticket, on_delete="CASCADE", index=False)
        name = peewee.CharField(max_length=64)
        value = peewee.TextField()

        class Meta:
            indexes = (
                (("ticket", "name", "value"), True),
                (("name", "value", "ticket"), False),
            )

    db.execute_sql('ALTER TABLE "ticket" ADD COLUMN "desk" VARCHAR(64) NOT NULL DEFAULT \'\'')
    # A desk's open queue: its live tickets by status (then sorted: a few hundred at
    # most). Lists of every status walk their sort order's index instead
    # (`queries.ticket_list._of_desks`).
    db.execute_sql(
        'CREATE INDEX "ticket_desk_status" ON "ticket" ("desk", "status", "updated_at") '
        'WHERE "merged_into_id" IS NULL'
    )
    db.create_tables([AgentDesk, TicketField])
