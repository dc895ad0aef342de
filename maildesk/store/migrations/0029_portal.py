"""The customer portal (/portal): sign-in links and customer sessions.

A customer asks for a sign-in link by mail; `portal_token` keeps the SHA-256 of each
link's token, whom it is for, when it expires and when it was used (once). Signing in
starts a `portal_session` row, named by the SHA-256 of the cookie's random id, kept
apart from agents' `web_session`, and revocable (`revoked_at`).

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Contact(BaseModel):
        pass

    class PortalToken(BaseModel):
        token_hash = peewee.CharField(max_length=64, unique=True)
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
        created_at = UTCDateTimeField()
        expires_at = UTCDateTimeField(index=True)
        used_at = UTCDateTimeField(null=True)
        client = peewee.CharField(max_length=64, default="")

    class PortalSession(BaseModel):
        sid_hash = peewee.CharField(max_length=64, unique=True)
        contact = peewee.ForeignKeyField(Contact, index=True, on_delete="CASCADE")
        created_at = UTCDateTimeField()
        last_seen_at = UTCDateTimeField()
        expires_at = UTCDateTimeField(index=True)
        revoked_at = UTCDateTimeField(null=True)

    db.create_tables([PortalToken, PortalSession])
