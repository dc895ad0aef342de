"""Web sign-ins kept on the server: one row per signed-in browser.

The session cookie names its row; signing out deletes the row, so a copy of the
cookie is worthless afterwards, and "sign out everywhere" deletes all of an
agent's rows.

The models below are frozen copies of the tables at this version, independent of
`maildesk.store.models`, so later model changes never alter this step.
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

    class WebSession(BaseModel):
        agent = peewee.ForeignKeyField(Agent, index=True, on_delete="CASCADE")
        sid_hash = peewee.CharField(max_length=64, unique=True)
        created_at = UTCDateTimeField()
        expires_at = UTCDateTimeField(index=True)

    db.create_tables([WebSession])
