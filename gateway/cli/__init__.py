"""The `invoice-gateway` command line."""
