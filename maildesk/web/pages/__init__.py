"""The web pages, one module per page; each lists its `routes`.

For agents (a session): `signin` (/login, /logout), `queue` (/ and /bulk),
`new_ticket` (/tickets/new, a ticket opened to a customer), `ticket`
(/tickets/SUP-00042, its messages, attachments, reply and controls), `followers`
(its Follow / Unfollow button), `ticket_links` (splitting a ticket), `live`
(/events/stream, who else is on a ticket), `reports`
(/reports and the CSV exports), `contacts` (/contacts, a customer's record), `orgs`
(/orgs, an organization with its tickets), `admin` (/admin/agents), `quarantine`
(/admin/quarantine), `kb_admin` (/admin/kb, the knowledge base editor), `webhooks`
(/admin/webhooks, the endpoints and their deliveries). For
customers (no session): `status` (/t/SUP-00042/<token>), `rating` (/t/.../rate),
`customer_close` (/t/.../close, /confirm, /reopen),
`submit` (/submit), `portal` (/portal, "My requests", signed in by a link
sent by mail), `help_center` (/kb/, another desk's /kb/d/DESK/) and `article`
(/kb/SLUG, with "Did this answer your question?"). Handlers are plain functions of
the request; the `Web` they work with is `context.web_of(request)`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from maildesk.web.pages import (
    admin,
    article,
    contacts,
    customer_close,
    followers,
    help_center,
    kb_admin,
    live,
    new_ticket,
    orgs,
    portal,
    quarantine,
    queue,
    rating,
    reports,
    signin,
    status,
    submit,
    submit_articles,
    ticket,
    ticket_links,
    webhooks,
    widget,
)

routes: list[BaseRoute] = [
    *signin.routes,
    *queue.routes,
    *new_ticket.routes,  # before /tickets/{label}
    *ticket.routes,
    *followers.routes,
    *ticket_links.routes,
    *live.routes,
    *reports.routes,
    *contacts.routes,
    *orgs.routes,
    *admin.routes,
    *quarantine.routes,
    *kb_admin.routes,
    *webhooks.routes,
    *status.routes,
    *rating.routes,
    *customer_close.routes,
    *status.not_found_routes,  # after every other /t/ route
    *submit.routes,
    *portal.routes,
    *submit_articles.routes,
    *widget.routes,
    *help_center.routes,
    *article.routes,
]
