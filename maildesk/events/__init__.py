"""Events out: what the event log holds, sent on to the people and programs that
follow it. Signed webhooks to other systems (a cursor over the log, durable
deliveries) and live updates to the agents' open pages (a stream per browser)."""
