"""HTTPS to a cluster's COE API (Kubernetes, Docker, Mesos) as a client of the cluster's CA.

The conductor drains nodes through each cluster's own API, which trusts only the cluster's CA:
the server is verified against that CA alone (never the system's trust store, so a public
certificate for the same address is refused too), and where the API authenticates clients by
certificate the conductor shows one it mints from the CA's key. A minted certificate lives a
day and is kept per process for each cluster CA until half its life is gone, so a drain round
of many requests signs nothing; its key stays in memory (an SSLContext) and touches the disk
only in a 0600 file of a private directory, removed as soon as OpenSSL has read it.

Every request is bounded by [conductor] coe_api_timeout (connect, then each read), and by
what is left of a deadline the caller set for its thread (`deadline`: the health monitor
gives one check a total, so a slow cluster never holds a worker longer). A request that
gets no answer, or that would start after the deadline, raises CoeUnreachable; one the COE
refuses (an HTTP error the caller did not allow, a server certificate that does not verify)
raises CoeError naming the request and the COE's message. The standard library's
http.client is used rather than `requests`, whose adapter adds the public CA bundle to a
context it is given.
"""

from __future__ import annotations

import base64
import collections
from collections.abc import Callable, Collection, Iterator, Mapping
import contextlib
import dataclasses
import datetime
import hashlib
import http.client
import json
import os
import ssl
import tempfile
import threading
import time
from typing import Any
import urllib.parse

from cryptography import x509 as crypto_x509
from oslo_log import log as logging

from magnum_lite.common import exception, x509
from magnum_lite.conf import CONF
from magnum_lite.drivers import base

LOG = logging.getLogger(__name__)

#: The name the conductor's client certificates carry (who drained a node, in the COE's log).
CONDUCTOR_NAME = "magnum-lite-conductor"
#: How long a minted client certificate is valid (x509's shortest, a day).
CLIENT_CERT_DAYS = 1
#: Minted certificates and contexts kept per process (one per cluster CA and identity).
MAX_CACHED_CONTEXTS = 512
#: The largest answer read (a page of a Kubernetes list is well below it).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: How much of a COE's error message a CoeError quotes.
MAX_MESSAGE_CHARS = 400
#: Redirects followed for one request (Mesos: a standby master to the leader).
MAX_REDIRECTS = 2


_deadline = threading.local()


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound every COE request this thread makes in the block by one total of `seconds`
    (None: no total): each request waits at most what is left of it, and none starts once
    it passed. Nested deadlines keep the earlier one."""
    previous = getattr(_deadline, "at", None)
    at = previous
    if seconds is not None:
        mine = time.monotonic() + seconds
        at = mine if previous is None else min(previous, mine)
    _deadline.at = at
    try:
        yield
    finally:
        _deadline.at = previous


def time_left() -> float | None:
    """Seconds left of this thread's deadline (`deadline`); None without one."""
    at = getattr(_deadline, "at", None)
    return None if at is None else at - time.monotonic()


@dataclasses.dataclass(frozen=True)
class ClientIdentity:
    """Who the client certificate says the conductor is: CN and one O per group."""

    common_name: str = CONDUCTOR_NAME
    organizations: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Response:
    """One HTTP answer, read whole."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; an empty body is None."""
        if not self.body.strip():
            return None
        return json.loads(self.body)


def cluster_ca(credentials: base.CredentialsLoader, coe: str) -> x509.KeyPair:
    """The cluster CA's key pair from the conductor's credentials loader.

    :raises exception.CoeError: the cluster has no CA (a cluster without TLS).
    """
    pair = credentials().cas.get("ca")
    if pair is None:
        raise exception.CoeError(coe=coe, reason="the cluster has no CA to trust its API with")
    return x509.KeyPair(certificate=pair.certificate, private_key=pair.private_key)


def basic_auth(user: str, password: str) -> str:
    """An Authorization header value for HTTP basic authentication."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


# -- TLS contexts ----------------------------------------------------------------------------

_contexts: collections.OrderedDict[tuple[str, ClientIdentity | None],
                                   tuple[ssl.SSLContext, datetime.datetime | None]] = \
    collections.OrderedDict()
_contexts_lock = threading.Lock()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _load_pair(context: ssl.SSLContext, pair: x509.KeyPair) -> None:
    """Give the context a certificate and key: OpenSSL reads key pairs only from files, so a
    0600 file in a private directory, gone before this returns."""
    with tempfile.TemporaryDirectory(prefix="magnum-lite-coe-") as directory:
        path = os.path.join(directory, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(pair.certificate)
                f.write(pair.private_key)
            context.load_cert_chain(path)
        finally:
            if os.path.exists(path):
                os.remove(path)


def _new_context(ca: x509.KeyPair, identity: ClientIdentity | None, coe: str
                 ) -> tuple[ssl.SSLContext, datetime.datetime | None]:
    """A client context trusting the cluster CA alone, with a minted client certificate when
    `identity` is given; and when to mint again (None: never)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the server and its name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=ca.certificate)
    except ssl.SSLError as err:
        raise exception.CoeError(coe=coe, reason=f"the cluster CA certificate cannot be "
                                                f"used: {err.reason or err}") from None
    if identity is None:
        return context, None
    try:
        pair = x509.issue_certificate(ca, identity.common_name,
                                      organizations=identity.organizations, server=False,
                                      client=True, validity_days=CLIENT_CERT_DAYS)
    except ValueError as err:
        raise exception.CoeError(coe=coe, reason=f"cannot sign a client certificate with "
                                                f"the cluster CA: {err}") from None
    _load_pair(context, pair)
    cert = crypto_x509.load_pem_x509_certificate(pair.certificate.encode("ascii"))
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    # Mint again once half the life is gone, so a certificate in use never expires mid-round.
    return context, not_before + (not_after - not_before) / 2


def client_context(ca: x509.KeyPair, identity: ClientIdentity | None,
                   coe: str = "COE") -> ssl.SSLContext:
    """The TLS context for a cluster's API, from the per-process cache when still fresh."""
    key = (hashlib.sha256(ca.certificate.encode()).hexdigest(), identity)
    with _contexts_lock:
        cached = _contexts.get(key)
        if cached is not None and (cached[1] is None or _now() < cached[1]):
            _contexts.move_to_end(key)
            return cached[0]
    # Signing takes a few milliseconds: outside the lock; two threads may both mint once.
    context, renew_at = _new_context(ca, identity, coe)
    with _contexts_lock:
        _contexts[key] = (context, renew_at)
        _contexts.move_to_end(key)
        while len(_contexts) > MAX_CACHED_CONTEXTS:
            _contexts.popitem(last=False)
    return context


def forget_contexts() -> None:
    """Drop every cached context (tests; a CA rotation needs none: its key is the new CA's)."""
    with _contexts_lock:
        _contexts.clear()


# -- the client ------------------------------------------------------------------------------

def message_of(body: bytes) -> str:
    """The COE's message: the "message" of a JSON error (Kubernetes Status, Docker), else
    the text (Mesos), shortened."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        text = data["message"]
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS - 3] + "..."
    return text


class CoeHttpClient:
    """Requests to one cluster's COE API over TLS with the cluster's CA.

    `ca` is called on the first request (the credentials are decrypted only when a drain
    needs them). `headers` go with every request (Mesos: basic authentication). One client
    keeps one connection open between requests; it is not for use by two threads at once.
    """

    def __init__(self, coe: str, api_address: str | None, ca: Callable[[], x509.KeyPair], *,
                 identity: ClientIdentity | None = None, default_port: int = 443,
                 headers: Mapping[str, str] | None = None, follow_redirects: bool = False,
                 timeout: float | None = None) -> None:
        self.coe = coe
        self._ca = ca
        self._identity = identity
        self._headers = dict(headers or {})
        self._follow_redirects = follow_redirects
        self._timeout = timeout
        self._context: ssl.SSLContext | None = None
        self._conn: http.client.HTTPSConnection | None = None
        self._conn_at: tuple[str, int] | None = None
        self.host, self.port = self._address(api_address, default_port)

    def _address(self, api_address: str | None, default_port: int) -> tuple[str, int]:
        if not api_address:
            raise exception.CoeUnreachable(coe=self.coe, reason="the cluster has no API address")
        text = api_address if "://" in api_address else f"https://{api_address}"
        parts = urllib.parse.urlsplit(text)
        # Docker's address is tcp://host:2376 (DOCKER_HOST); its API is TLS all the same.
        if parts.scheme not in ("https", "tcp") or not parts.hostname:
            raise exception.CoeError(coe=self.coe, reason=f"the API address {api_address!r} "
                                                          "is not an https or tcp URL")
        try:
            port = parts.port or default_port
        except ValueError:
            raise exception.CoeError(coe=self.coe, reason=f"the API address {api_address!r} "
                                                          "has no valid port") from None
        return parts.hostname, port

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else CONF.conductor.coe_api_timeout

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._conn_at = None

    def _request_timeout(self, what: str) -> float:
        """This request's timeout: coe_api_timeout, or less when the thread's deadline is
        nearer.

        :raises exception.CoeUnreachable: the deadline passed (the request is not sent).
        """
        left = time_left()
        if left is None:
            return self.timeout
        if left <= 0:
            self.close()
            raise self._unreachable(what, "the check's deadline passed before an answer")
        return min(self.timeout, left)

    def _connection(self, host: str, port: int, timeout: float
                    ) -> tuple[http.client.HTTPSConnection, bool]:
        """The open connection to (host, port), or a new one; and whether it was reused.
        Its reads wait at most `timeout`."""
        if self._conn is not None and self._conn_at == (host, port):
            self._conn.timeout = timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
            return self._conn, True
        self.close()
        if self._context is None:
            self._context = client_context(self._ca(), self._identity, self.coe)
        self._conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                 context=self._context)
        self._conn_at = (host, port)
        return self._conn, False

    def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                body: Any = None, content_type: str = "application/json",
                allow: Collection[int] = ()) -> Response:
        """Send one request; the answer when its status is below 400 or in `allow`.

        `body` is sent as JSON (with `content_type`) unless it is None.
        :raises exception.CoeUnreachable: no answer (refused, timed out, cut).
        :raises exception.CoeError: another HTTP error, or TLS refused either way.
        """
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        what = f"{method} {path}"
        headers = {"Accept": "application/json", "User-Agent": CONDUCTOR_NAME,
                   **self._headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        host, port = self.host, self.port
        for hop in range(MAX_REDIRECTS + 1):
            response = self._exchange(host, port, method, target, headers, data, what)
            LOG.debug("%s API of %s:%s: %s %s: %s", self.coe, host, port, method, path,
                      response.status)
            location = response.headers.get("location")
            if not (self._follow_redirects and response.status in (307, 308) and location):
                break
            url = urllib.parse.urlsplit(urllib.parse.urljoin(
                f"https://{host}:{port}{target}", location))
            if hop == MAX_REDIRECTS or not url.hostname:
                raise exception.CoeError(coe=self.coe, reason=(
                    f"{what}: redirected more than {MAX_REDIRECTS} times or nowhere "
                    f"({location[:100]})"))
            host, port = url.hostname, url.port or self.port
            target = url.path + (f"?{url.query}" if url.query else "")
        if response.status >= 400 and response.status not in allow:
            raise exception.CoeError(coe=self.coe, reason=(
                f"{what}: {response.status} {response.reason}: "
                f"{message_of(response.body) or 'no message'}"))
        return response

    def get_json(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        """GET `path` and return its JSON.

        :raises exception.CoeError: an HTTP error, or an answer that is not JSON.
        """
        return self.json_of(self.request("GET", path, query=query), f"GET {path}")

    def json_of(self, response: Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise exception.CoeError(coe=self.coe,
                                     reason=f"{what}: the answer is not JSON") from None

    def _exchange(self, host: str, port: int, method: str, target: str,
                  headers: dict[str, str], data: bytes | None, what: str) -> Response:
        """One request and its answer; a kept-alive connection the server closed meanwhile is
        opened again once (nothing reached the server)."""
        while True:
            timeout = self._request_timeout(what)
            conn, reused = self._connection(host, port, timeout)
            try:
                conn.request(method, target, body=data, headers=headers)
                answer = conn.getresponse()
                body = answer.read(MAX_BODY_BYTES + 1)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused:
                    continue
                raise self._unreachable(
                    what, "the connection was closed without an answer") from None
            except ssl.SSLCertVerificationError as err:
                self.close()
                raise exception.CoeError(coe=self.coe, reason=(
                    f"{what}: the server's certificate does not verify against the cluster "
                    f"CA ({err.verify_message or err.reason})")) from None
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                self.close()
                raise self._unreachable(what, "the TLS connection was closed") from None
            except ssl.SSLError as err:
                self.close()
                raise exception.CoeError(coe=self.coe, reason=(
                    f"{what}: TLS refused ({err.reason or err})")) from None
            except TimeoutError:
                self.close()
                raise self._unreachable(what, f"no answer within {timeout:g} s") from None
            except (OSError, http.client.IncompleteRead) as err:
                self.close()
                raise self._unreachable(what, str(err) or type(err).__name__) from None
            except http.client.HTTPException as err:
                self.close()
                raise exception.CoeError(coe=self.coe, reason=(
                    f"{what}: not an HTTP answer ({type(err).__name__})")) from None
            if len(body) > MAX_BODY_BYTES:
                self.close()
                raise exception.CoeError(coe=self.coe, reason=(
                    f"{what}: the answer is larger than {MAX_BODY_BYTES} bytes"))
            if answer.will_close:
                self.close()
            return Response(status=answer.status, reason=answer.reason,
                            headers={k.lower(): v for k, v in answer.getheaders()}, body=body)

    def _unreachable(self, what: str, reason: str) -> exception.CoeUnreachable:
        return exception.CoeUnreachable(
            coe=self.coe, reason=f"{what} to {self.host}:{self.port}: {reason}")
