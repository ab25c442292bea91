"""Event bus, channels, replay from the event log, subscription generators."""
