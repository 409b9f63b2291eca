"""Invoice events: the event model and bus, the hub that feeds subscribers, backfill."""
