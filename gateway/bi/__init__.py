"""BI reads: summaries, aging and the CSV/NDJSON export."""
