"""WSGI middleware of the API pipeline (see etc/magnum-lite/api-paste.ini)."""
