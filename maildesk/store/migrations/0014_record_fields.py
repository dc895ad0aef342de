"""Custom fields on customer records: `[[field]]` with `record = "contact"` or
`"organization"`.

- `contact_field`: a person's values (on their primary contact row), one row per value
  (a multiselect has one row per chosen option), canonical text, as `ticket_field`.
- `organization_field`: an organization's, alike.

Each has the two indexes of `ticket_field` (0011): (owner, name, value), unique, for
reading and replacing a record's values, and (name, value, owner) for a list filtered
on a field (`contacts list --field NAME=VALUE`), which reads only that index. New
tables only: nothing existing is rewritten. The models below are frozen copies of the
tables at this version.
"""

import peewee


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Contact(BaseModel):
        pass

    class Organization(BaseModel):
        pass

    class ContactField(BaseModel):
        contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE", index=False)
        name = peewee.CharField(max_length=64)
        value = peewee.TextField()

        class Meta:
            indexes = (
                (("contact", "name", "value"), True),
                (("name", "value", "contact"), False),
            )

    class OrganizationField(BaseModel):
        organization = peewee.ForeignKeyField(Organization, on_delete="CASCADE", index=False)
        name = peewee.CharField(max_length=64)
        value = peewee.TextField()

        class Meta:
            indexes = (
                (("organization", "name", "value"), True),
                (("name", "value", "organization"), False),
            )

    db.create_tables([ContactField, OrganizationField])
