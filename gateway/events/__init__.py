"""Invoice events in motion: the bus that fans them out, the hub that acts on each one,
and the MakersHub backfill (the event model itself is `gateway.domain.events`)."""
