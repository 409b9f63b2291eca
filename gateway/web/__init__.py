"""The HTTP front door: requests, access, GraphQL over HTTP and WebSocket, webhooks, export."""
