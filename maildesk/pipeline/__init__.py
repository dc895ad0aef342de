"""The pipeline: stored mail becomes part of tickets; its worker, ingest and quarantine."""
