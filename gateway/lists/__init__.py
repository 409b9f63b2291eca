"""Reading lists across sources: paging, source selection, per-request loaders."""
