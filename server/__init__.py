"""racer's HTTP API: a Bottle app over racer's own steps, served by waitress.

Start it with `racerctl server start` (or `python -m server`); the endpoints
are described at `GET /openapi.json`.
"""
