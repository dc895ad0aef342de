"""Agents limited to categories.

- `agent_category`: the categories an agent or manager is limited to (none: every
  category of their desks). Read by agent (`store.repo.agent_categories`), through the
  unique (agent, category) index.

Existing agents get no rows: they keep seeing every category. The models below are
frozen copies of the tables at this version.
"""

import peewee


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Agent(BaseModel):
        pass

    class AgentCategory(BaseModel):
        agent = peewee.ForeignKeyField(Agent, on_delete="CASCADE")
        category = peewee.CharField(max_length=100)

        class Meta:
            indexes = ((("agent", "category"), True),)

    db.create_tables([AgentCategory])
