"""Ticket numbers per desk.

- `ticket.seq`: the number a ticket's label shows. With one sequence for every desk
  (`[tickets] numbering = "shared"`, the default) it is `number`; with one sequence
  per desk it is the desk's own count. Existing tickets get their `number`, so every
  label reads as before.
- `ticket_desk_seq`: unique (desk, seq): what a label like `IT-00007` is looked up by,
  and what keeps two tickets of one desk from ever showing the same label.

One `ALTER TABLE ... ADD COLUMN ... NOT NULL DEFAULT` (see 0010), then one pass over
the tickets to copy the numbers before the index exists.
"""


def up(migrator, db):
    db.execute_sql('ALTER TABLE "ticket" ADD COLUMN "seq" BIGINT NOT NULL DEFAULT 0')
    db.execute_sql('UPDATE "ticket" SET "seq" = "number"')
    db.execute_sql('CREATE UNIQUE INDEX "ticket_desk_seq" ON "ticket" ("desk", "seq")')
