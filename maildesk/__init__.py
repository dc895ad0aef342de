"""maildesk: an email-first helpdesk.

Mail comes in (SMTP/LMTP, IMAP, `maildesk ingest`), is committed raw, then the
pipeline turns it into tickets; see `maildesk.pipeline.flow` for the whole flow.
"""

__version__ = "0.1.0"
