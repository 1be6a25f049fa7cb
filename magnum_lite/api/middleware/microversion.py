"""Negotiate the API microversion of every request and announce it on every response.

The requested version is checked here, before authentication and routing: a malformed header
gets 400, an unsupported version 406 with the supported range. Every response (errors
included) carries OpenStack-API-Minimum-Version, OpenStack-API-Maximum-Version,
OpenStack-API-Version and `Vary: OpenStack-API-Version`. Unversioned documents (the root `/`,
the health check) ignore a bad header instead of failing on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from magnum_lite.api import errors, versions

_VERSION_HEADERS = frozenset(h.lower() for h in (versions.HEADER, versions.MIN_HEADER,
                                                 versions.MAX_HEADER))
_MIN_VALUE = versions.MIN_VERSION.header_value()
_MAX_VALUE = versions.MAX_VERSION.header_value()

_STATUS_PHRASES = {400: "400 Bad Request", 406: "406 Not Acceptable"}


class MicroversionMiddleware:
    """Parses OpenStack-API-Version into environ[versions.ENVIRON_KEY]."""

    def __init__(self, app: Callable, unversioned_paths: Iterable[str] = ("/",)) -> None:
        self.app = app
        self.unversioned_paths = frozenset(p.rstrip("/") for p in unversioned_paths)

    def _headers(self, version_value: str, headers: list) -> list:
        vary = [value for name, value in headers if name.lower() == "vary"]
        kept = [(name, value) for name, value in headers
                if name.lower() not in _VERSION_HEADERS and name.lower() != "vary"]
        vary_values = [v.strip() for value in vary for v in value.split(",") if v.strip()]
        if versions.HEADER.lower() not in (v.lower() for v in vary_values):
            vary_values.append(versions.HEADER)
        return kept + [
            (versions.MIN_HEADER, _MIN_VALUE),
            (versions.MAX_HEADER, _MAX_VALUE),
            (versions.HEADER, version_value),
            ("Vary", ", ".join(vary_values)),
        ]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            version = versions.parse(environ.get(versions.ENVIRON_HEADER))
        except (versions.MalformedVersion, versions.UnsupportedVersion) as err:
            path = (environ.get("PATH_INFO") or "/").rstrip("/")
            if path not in self.unversioned_paths:
                return self._refuse(err, environ, start_response)
            version = versions.MIN_VERSION
        environ[versions.ENVIRON_KEY] = version
        value = version.header_value()

        def versioned_start_response(status: str, headers: list, exc_info: Any = None):
            return start_response(status, self._headers(value, headers), exc_info)

        return self.app(environ, versioned_start_response)

    def _refuse(self, err: Exception, environ: dict, start_response: Callable) -> list:
        code = err.code
        extra = {}
        value = _MIN_VALUE
        if isinstance(err, versions.UnsupportedVersion):
            # Like Magnum: a 406 echoes the version asked for and states the range.
            value = err.version.header_value()
            extra = {"min_version": str(versions.MIN_VERSION),
                     "max_version": str(versions.MAX_VERSION)}
        body = errors.error_body(code, str(err), environ.get(errors.REQUEST_ID_KEY), **extra)
        headers = self._headers(value, [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))])
        start_response(_STATUS_PHRASES[code], headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def filter_factory(global_conf: dict, **local_conf: Any) -> Callable:
    """paste.deploy filter factory; `unversioned_paths` is a comma separated list."""
    paths = [p.strip() for p in local_conf.get("unversioned_paths", "/").split(",") if p.strip()]

    def _filter(app: Callable) -> MicroversionMiddleware:
        return MicroversionMiddleware(app, unversioned_paths=paths)

    return _filter
