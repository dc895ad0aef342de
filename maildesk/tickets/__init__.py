"""Tickets and what changes them: the desk's services, changes, SLA clock, automation, agents."""
