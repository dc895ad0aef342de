"""Pure logic of maildesk: plain values in, decisions out, no IO.

Nothing here imports peewee, aiosmtpd, starlette, jinja2 or socket.
"""
