"""Scheduled work driven by database state: the SLA pass, auto-close, the daily digest."""
