"""Errors the conductor answers over RPC reach the client as one line, never as a traceback.

oslo.messaging rebuilds an expected exception of the conductor in the API as a subclass
(`<Class>_Remote`) whose message carries the conductor's traceback. The in-process transport
of the unit tier hands the exception object over as it is, so these tests rebuild exceptions
with oslo.messaging's own (de)serialization; tests/functional/test_secrets_and_errors.py sends
an unparsable CSR over RabbitMQ to a real conductor.
"""

from __future__ import annotations

import sys

from oslo_messaging._drivers import common as driver_common

from magnum_lite.api import errors
from magnum_lite.common import exception, rpc


def _remote(err: Exception) -> Exception:
    """`err` as oslo.messaging rebuilds it on the calling side of an RPC call."""
    try:
        raise err
    except Exception:
        data = driver_common.serialize_remote_exception(sys.exc_info())
    return driver_common.deserialize_remote_exception(data, rpc.ALLOWED_REMOTE_EXMODS)


def test_the_message_of_a_rebuilt_remote_exception_is_its_own():
    remote = _remote(exception.InvalidParameterValue(err="csr: not a certificate request."))
    assert isinstance(remote, exception.InvalidParameterValue)
    assert "Traceback" in str(remote)  # what oslo.messaging makes of it
    assert errors.message_of(remote) == "csr: not a certificate request."


def test_a_multi_line_remote_message_becomes_one_line():
    remote = _remote(exception.Conflict("Cluster x:\n  busy\nwith another operation."))
    assert errors.message_of(remote) == "Cluster x: busy with another operation."


def test_a_remote_builtin_exception_loses_its_traceback_too():
    remote = _remote(ValueError("bad value"))
    assert "Traceback" in str(remote)
    assert errors.message_of(remote) == "bad value"


def test_local_exceptions_keep_their_message():
    assert errors.message_of(exception.Conflict("Line one.\nLine two.")) == \
        "Line one.\nLine two."


def test_the_api_answers_a_remote_error_with_its_one_line_message(member, cluster,
                                                                  monkeypatch):
    """The conductor's answer as the RabbitMQ transport delivers it, through the whole WSGI
    pipeline (an exception the conductor marks expected: a 400 with its message)."""
    from magnum_lite import objects
    from magnum_lite.common import context
    from magnum_lite.conductor import credentials
    from tests.unit.api.conftest import CastRecorder, error_of

    admin = context.get_admin_context()
    credentials.ensure_cas(admin, objects.Cluster.get_by_uuid(admin, cluster["uuid"]),
                           "kubernetes")

    def refuse(self, context, cluster_uuid, csr):
        raise _remote(exception.InvalidParameterValue(
            err="csr: cannot be parsed as a PEM certificate signing request"))

    monkeypatch.setattr(CastRecorder, "sign_certificate", refuse)
    response = member.post("/v1/certificates", {"cluster_uuid": cluster["uuid"],
                                                "csr": "-----BEGIN CERTIFICATE REQUEST-----"},
                           status=400)
    assert "Traceback" not in response.text and ".py" not in response.text
    error = error_of(response)
    assert error["detail"] == "csr: cannot be parsed as a PEM certificate signing request"
    assert error["title"] == error["detail"]
