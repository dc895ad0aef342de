"""The web view: the queue, ticket pages, reports and admin pages for agents; status
pages, satisfaction and the /submit form for customers; the JSON API.

`app.create_app` builds the Starlette application from a `context.Web`; the daemon
serves it with uvicorn on its own loop (`server.WebServer`). `pages/` holds one
module per page (its handlers and `routes`), `api/` the JSON API (routes, pydantic
request models, the OpenAPI description); the rest of this package is what they
share: sign-in checks and sessions (`auth`, `sessions`), CSRF and helpers
(`context`), limits and middleware, uploads, badges, charts, the mail HTML
sanitiser, and the read models of the bigger pages (`listing`, `detail`). Handlers
are async and send all database work to the web's database threads (`Web.call`);
changes to tickets go through the mail pipeline (`actions`), exactly like mail.
"""
