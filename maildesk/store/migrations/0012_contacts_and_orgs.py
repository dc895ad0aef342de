"""Customer records: organizations, internal notes, and one person with several addresses.

- `organization`: a customer organization (name unique regardless of case, through
  `name_key`), its internal notes, and `shared_tickets` (its members see each other's
  tickets on their status pages).
- `organization_domain`: the mail domains an organization owns, one owner per domain.
- `contact.organization_id`: the person's organization, set by an agent
  (`organization_explicit`, where NULL means none) or by their mail domain;
  `contact.notes`: internal notes; `contact.merged_into_id`: the primary address of
  the person this address belongs to (NULL: it is a primary address).

Existing contacts belong to no organization (there is none yet) and are each a person
of their own. Plain `ALTER TABLE ... ADD COLUMN ... DEFAULT` for the new columns (see
0010): applied in place on both databases, no table rebuilt. The models below are
frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Organization(BaseModel):
        name = peewee.CharField(max_length=200)
        name_key = peewee.CharField(max_length=200, unique=True)
        notes = peewee.TextField(default="")
        shared_tickets = peewee.BooleanField(default=False)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

    class OrganizationDomain(BaseModel):
        organization = peewee.ForeignKeyField(Organization, index=True, on_delete="CASCADE")
        domain = peewee.CharField(max_length=253, unique=True)

    db.create_tables([Organization, OrganizationDomain])
    false = "false" if isinstance(db, peewee.PostgresqlDatabase) else "0"
    boolean = "BOOLEAN" if isinstance(db, peewee.PostgresqlDatabase) else "INTEGER"
    for column in (
        '"organization_id" INTEGER NULL REFERENCES "organization" ("id")',
        f'"organization_explicit" {boolean} NOT NULL DEFAULT {false}',
        "\"notes\" TEXT NOT NULL DEFAULT ''",
        '"merged_into_id" INTEGER NULL REFERENCES "contact" ("id")',
    ):
        db.execute_sql(f'ALTER TABLE "contact" ADD COLUMN {column}')
    db.execute_sql('CREATE INDEX "contact_organization_id" ON "contact" ("organization_id")')
    db.execute_sql('CREATE INDEX "contact_merged_into_id" ON "contact" ("merged_into_id")')
