"""The knowledge base: articles a team writes once (Markdown, kept in git if it likes),
the public help center that shows them, and the suggestions that put them in front of
customers and agents where they already are: the acknowledgement, the status page,
the agents' notice of a new ticket, `#kb SLUG` in a reply."""
