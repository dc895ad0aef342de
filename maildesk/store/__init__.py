"""Storage: peewee models, connections and transactions, migrations, named queries."""
