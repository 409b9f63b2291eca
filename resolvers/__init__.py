"""The GraphQL layer: strawberry types and resolvers over the gateway's domain objects.

Resolvers never import httpx; they reach upstreams only through the request context's
loaders and the adapters' domain-level methods.
"""
