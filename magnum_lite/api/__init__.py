"""magnum-lite-api: the REST API, wire-compatible with Magnum's v1 API."""
