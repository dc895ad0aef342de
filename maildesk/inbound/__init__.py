"""Intake sources: SMTP/LMTP listener, IMAP poller and the intake that commits raw mail."""
