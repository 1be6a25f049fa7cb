"""/v1/certificates: a cluster's CA certificates, client certificates signed from CSRs, and
CA rotation (1.5+).

The API reads CA certificates (public) from the database; signing and rotation need the
CA's private key, which only the conductor decrypts, so they go over RPC. A cluster of
another project is a 404 for every call, as for the cluster itself, but for a signing request:
there the cluster is named in the body, and Magnum answers 400 for a cluster it cannot find. The
cluster is looked up and the policy checked before the rest of a request is read.
"""

from __future__ import annotations

from typing import Any

import pecan

from magnum_lite import objects
from magnum_lite.api.controllers import base, link
from magnum_lite.api.controllers.v1 import cluster_shared, collection, types
from magnum_lite.common import context as ml_context
from magnum_lite.common import exception, policy, states
from magnum_lite.objects import fields

RESOURCE = "certificates"
#: `?ca_cert_type=` values and the CA each names (Magnum's names; none: the cluster CA).
CA_CERT_TYPES = {"kubernetes": "ca", "etcd": "etcd", "front_proxy": "front_proxy",
                 "front-proxy": "front_proxy"}
#: The fields of a signing request (`bay_uuid` is Magnum's older name of `cluster_uuid`).
SIGN_FIELDS = ("cluster_uuid", "bay_uuid", "csr")
MAX_CSR_LENGTH = 16384


def _document(cluster: objects.Cluster, pem: str, **extra: Any) -> dict:
    return {"cluster_uuid": cluster.uuid, "pem": pem, **extra,
            "links": link.self_and_bookmark(RESOURCE, cluster.uuid)}


def _tls_disabled(cluster: objects.Cluster) -> bool:
    """The `tls_disabled` of the cluster's template (read as admin: an admin may have made
    the cluster from a template of another project)."""
    template = objects.ClusterTemplate.get_by_uuid(ml_context.get_admin_context(),
                                                   cluster.cluster_template_id)
    return bool(template.tls_disabled)


def _cluster(context: Any, ident: str, rule: str) -> objects.Cluster:
    """The caller's cluster (404 otherwise), allowed by `rule` (403 otherwise)."""
    base.see_all_projects(context, "certificate:all_projects")
    cluster = objects.Cluster.get(context, ident)
    policy.authorize(context, rule, cluster_shared.target(cluster))
    return cluster


def _check_ca(cluster: objects.Cluster, field: str, kind: str = "ca") -> objects.Cluster:
    """The cluster has TLS (400 naming `field` otherwise) and its CA of `kind` is made (409
    while the cluster is still being created)."""
    if _tls_disabled(cluster):
        raise types.invalid(field, f"cluster {cluster.uuid} has TLS disabled: it has no CA.")
    if not getattr(cluster, objects.Cluster.CA_REF_FIELDS[kind]):
        raise exception.Conflict(
            f"Cluster {cluster.uuid} has no {kind} CA yet ({cluster.status}); its CA is made "
            "when the conductor starts building it.")
    return cluster


def _cluster_with_ca(context: Any, ident: str, rule: str, field: str,
                     kind: str = "ca") -> objects.Cluster:
    """The caller's cluster (404), allowed by `rule` (403), with TLS and its CA (see
    _check_ca)."""
    return _check_ca(_cluster(context, ident, rule), field, kind)


def sign_request_cluster(data: Any) -> str:
    """The cluster (uuid or name) a POST body names; 400 naming the field when the body is no
    object or names none."""
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            err=f"The request body must be a JSON object, got {type(data).__name__}.")
    ident = data.get("cluster_uuid") or data.get("bay_uuid")
    if ident is None:
        raise types.invalid("cluster_uuid", "this field is required.")
    return types.check_text("cluster_uuid", ident, min_length=1, max_length=255)


def parse_sign_request(data: Any) -> tuple[str, str]:
    """(cluster ident, csr) of a POST body; 400 naming the field for anything wrong."""
    ident = sign_request_cluster(data)
    for name in data:
        if name not in SIGN_FIELDS:
            raise types.invalid(str(name)[:80], "unknown field.")
    csr = data.get("csr")
    if csr is None:
        raise types.invalid("csr", "this field is required.")
    types.check_text("csr", csr, min_length=1, max_length=MAX_CSR_LENGTH)
    if "BEGIN CERTIFICATE REQUEST" not in csr:
        raise types.invalid("csr", "is not a PEM certificate signing request (no BEGIN "
                                   "CERTIFICATE REQUEST line).")
    return ident, csr


class CertificatesController(base.RestController):
    """GET /v1/certificates/{cluster}, POST /v1/certificates, PATCH /v1/certificates/{cluster}."""

    @base.expose()
    def get_one(self, ident: str) -> dict:
        """The PEM certificate of one of the cluster's CAs (`?ca_cert_type=`: kubernetes,
        the default; etcd; front_proxy)."""
        context = base.context()
        cert_type = collection.query_param("ca_cert_type")
        kind = "ca"
        if cert_type:
            if cert_type not in CA_CERT_TYPES:
                raise types.invalid("ca_cert_type", f"must be one of "
                                                    f"{', '.join(sorted(CA_CERT_TYPES))}; got "
                                                    f"{types.quote(cert_type)}.")
            kind = CA_CERT_TYPES[cert_type]
        cluster = _cluster_with_ca(context, ident, "certificate:get", "cluster_uuid", kind)
        ref = getattr(cluster, objects.Cluster.CA_REF_FIELDS[kind])
        try:
            pair = objects.X509KeyPair.get_by_uuid(context, ref)
        except exception.X509KeyPairNotFound as err:
            # Rotated away between the two reads: the caller asks again.
            raise exception.Conflict(f"Cluster {cluster.uuid}: its CA is being replaced; "
                                     "try again.") from err
        extra = {"ca_cert_type": cert_type} if cert_type else {}
        return _document(cluster, pair.certificate, **extra)

    @base.expose(status=201)
    def post(self) -> dict:
        """Sign the caller's CSR with the cluster's CA; 201 with the certificate. Its subject
        names the caller whatever the CSR asks (see conductor/credentials.py). The cluster is
        looked up (400 when there is none, as Magnum answers: it is named in the body) and the
        policy checked before the CSR is read."""
        context = base.context()
        data = base.request_json()
        try:
            cluster = _cluster(context, sign_request_cluster(data), "certificate:create")
        except exception.ClusterNotFound as err:
            raise types.invalid("cluster_uuid", str(err)) from err
        _ident, csr = parse_sign_request(data)
        _check_ca(cluster, "cluster_uuid")
        pem = cluster_shared.call_conductor(f"Cluster {cluster.uuid}: a certificate signing",
                                            "sign_certificate", context,
                                            cluster_uuid=cluster.uuid, csr=csr)
        return _document(cluster, pem, csr=csr)

    @base.expose(status=202)
    def patch(self, ident: str) -> dict:
        """Give the cluster a new CA and push it to its nodes (an update of the cluster):
        certificates the old CA signed stop working. 202 with the cluster's uuid, as
        Magnum."""
        context = base.context()
        cluster = _cluster_with_ca(context, ident, "certificate:rotate_ca", "cluster_uuid")
        pecan.request.rpcapi.check_credentials_api("CA rotation")
        cluster_shared.start_update(context, cluster, "cluster.rotate_ca", states.Kind.CA_ROTATION)
        cluster_shared.cast_or_fail(context, cluster, "rotate_ca_certificate",
                              fields.ClusterStatus.UPDATE_FAILED)
        return {"uuid": cluster.uuid}
