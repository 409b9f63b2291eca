"""invoice-gateway: one GraphQL API over many REST invoice APIs."""

__version__ = "0.4.1"
