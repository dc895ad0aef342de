"""The daemon: its composition root, logs and systemd integration."""
