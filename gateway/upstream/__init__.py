"""Talking to an upstream over HTTP: the client, wire, cache, breaker, routes, request scope."""
