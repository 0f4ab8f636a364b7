"""Serving: the ASGI app and its pipeline, HTTP protocols, the background server, the CLI."""
