"""IMAP poller state: per mailbox folder, its UIDVALIDITY and the last UID taken in.

The model below is a frozen copy of the table at this version, independent of
`maildesk.store.models`, so later model changes never alter this step.
"""

import peewee


def up(migrator, db):
    class ImapState(peewee.Model):
        host = peewee.CharField(max_length=255)
        port = peewee.IntegerField()
        username = peewee.CharField(max_length=320)
        folder = peewee.CharField(max_length=500)
        uidvalidity = peewee.BigIntegerField()
        last_uid = peewee.BigIntegerField(default=0)

        class Meta:
            database = db
            legacy_table_names = False
            indexes = ((("host", "port", "username", "folder"), True),)

    db.create_tables([ImapState])
