"""Outgoing mail: templates rendered to text + HTML, composed, queued and sent."""
