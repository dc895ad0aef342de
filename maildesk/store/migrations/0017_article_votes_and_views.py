"""How articles are doing: answers to "Did this answer your question?" and views.

- `article_vote`: one answer per (article, ticket) for a signed suggestion link, or
  per (article, visitor) for a visitor of the help center (a hashed cookie); a second
  answer replaces the first, so votes cannot be stuffed.
- `article_view`: opens per article and day.

The models below are frozen copies of the tables at this version.
"""

import peewee

from maildesk.store.fields import UTCDateTimeField


def up(migrator, db):
    class BaseModel(peewee.Model):
        class Meta:
            legacy_table_names = False
            database = db

    class Article(BaseModel):
        pass

    class Ticket(BaseModel):
        pass

    class ArticleVote(BaseModel):
        article = peewee.ForeignKeyField(Article, on_delete="CASCADE", index=False)
        ticket = peewee.ForeignKeyField(Ticket, null=True, on_delete="CASCADE", index=False)
        visitor = peewee.CharField(max_length=64, null=True)
        helpful = peewee.BooleanField()
        created_at = UTCDateTimeField(index=True)

        class Meta:
            indexes = ((("article", "ticket"), True), (("article", "visitor"), True))

    class ArticleView(BaseModel):
        article = peewee.ForeignKeyField(Article, on_delete="CASCADE", index=False)
        day = peewee.DateField()
        views = peewee.IntegerField(default=0)

        class Meta:
            indexes = ((("article", "day"), True),)

    db.create_tables([ArticleVote, ArticleView])
