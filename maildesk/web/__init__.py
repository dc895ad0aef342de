"""The web view: the queue, ticket pages, reports and admin pages for agents; status
pages, satisfaction and the /submit form for customers; the JSON API.

`app.create_app` builds the Starlette application from a `context.Web`; the daemon
serves it with uvicorn on its own loop (`server.WebServer`). Handlers are async and
send all database work to the web's database threads (`Web.call`); changes to
tickets go through the mail pipeline (`actions`), exactly like mail.
"""
