"""The web explorer: server-rendered pages over the same service as the JSON API."""
