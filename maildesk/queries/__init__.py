"""Read models: ticket lists, serialisation, SLA report and analytics."""
