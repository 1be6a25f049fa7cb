"""Version 1 of the API (Magnum's v1): one module per resource, its WSME types next to it."""
