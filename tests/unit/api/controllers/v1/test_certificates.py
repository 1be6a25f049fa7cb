"""/v1/certificates (a cluster's CA certificates, client certificates from CSRs, CA rotation
from 1.5) and /v1/credentials (trust rotation, 1.12)."""

from __future__ import annotations

from typing import Any

from cryptography import x509 as crypto_x509
import pytest

from magnum_lite import objects
from magnum_lite.common import context as ctx
from magnum_lite.common import encryption, states, x509
from magnum_lite.conductor import credentials
from magnum_lite.objects import cluster_operation
from tests.csr import make_csr
from tests.unit.api.conftest import TEMPLATE, CastRecorder, db_snapshot, error_of, record_status

URL = "/v1/certificates"
CREDENTIALS_URL = "/v1/credentials"


def _admin() -> ctx.RequestContext:
    return ctx.get_admin_context()


def _cluster(uuid: str) -> objects.Cluster:
    return objects.Cluster.get_by_uuid(_admin(), uuid)


def _set_status(uuid: str, status: str) -> None:
    record_status(uuid, status)


@pytest.fixture
def with_ca(cluster) -> dict[str, Any]:
    """The cluster with its three CAs made (as the conductor makes them at create)."""
    made = credentials.ensure_cas(_admin(), _cluster(cluster["uuid"]), "kubernetes")
    certificates = {kind: credentials.ca_certificate(_admin(), made, kind)
                    for kind in ("ca", "etcd", "front_proxy")}
    return {**cluster, "certificates": certificates, "ca_cert_ref": made.ca_cert_ref}


# -- GET ---------------------------------------------------------------------------------------

def test_get_gives_the_cluster_ca_with_links(member, with_ca):
    uuid = with_ca["uuid"]
    body = member.get(f"{URL}/{uuid}", status=200).json
    assert set(body) == {"cluster_uuid", "pem", "links"}
    assert body["cluster_uuid"] == uuid
    assert body["pem"] == with_ca["certificates"]["ca"]
    assert [link["rel"] for link in body["links"]] == ["self", "bookmark"]
    assert body["links"][0]["href"].endswith(f"/v1/certificates/{uuid}")
    assert body["links"][1]["href"].endswith(f"/certificates/{uuid}")
    # By name too, as the cluster itself.
    assert member.get(f"{URL}/c1", status=200).json["pem"] == body["pem"]


@pytest.mark.parametrize(("cert_type", "kind"), [("kubernetes", "ca"), ("etcd", "etcd"),
                                                  ("front_proxy", "front_proxy"),
                                                  ("front-proxy", "front_proxy")])
def test_get_of_each_ca_type(member, with_ca, cert_type, kind):
    body = member.get(f"{URL}/{with_ca['uuid']}?ca_cert_type={cert_type}", status=200).json
    assert body["pem"] == with_ca["certificates"][kind]
    assert body["ca_cert_type"] == cert_type


def test_a_bad_ca_cert_type_is_a_400_naming_it(member, with_ca):
    error = error_of(member.get(f"{URL}/{with_ca['uuid']}?ca_cert_type=root", status=400))
    assert error["detail"].startswith("ca_cert_type:")
    assert "root" in error["detail"] and "etcd" in error["detail"]
    error = error_of(member.get(f"{URL}/{with_ca['uuid']}?ca_cert_type=etcd&ca_cert_type=etcd",
                                status=400))
    assert error["detail"].startswith("ca_cert_type:")


def test_a_cluster_with_tls_disabled_has_no_certificate(member, casts):
    template = member.post("/v1/clustertemplates", {**TEMPLATE, "name": "plain",
                                                    "tls_disabled": True}, status=201).json
    uuid = member.post("/v1/clusters", {"name": "plain", "cluster_template_id":
                                        template["uuid"]}, status=202).json["uuid"]
    _set_status(uuid, "CREATE_COMPLETE")
    casts.clear()
    for response in (member.get(f"{URL}/{uuid}", status=400),
                     member.post(URL, {"cluster_uuid": uuid, "csr": make_csr()}, status=400),
                     member.patch(f"{URL}/{uuid}", {}, status=400)):
        assert "TLS disabled" in error_of(response)["detail"]
    assert casts == []
    assert _cluster(uuid).status == "CREATE_COMPLETE"


def test_a_cluster_whose_ca_is_not_made_yet_is_a_409(member, cluster, casts):
    error = error_of(member.get(f"{URL}/{cluster['uuid']}", status=409))
    assert "no ca CA yet" in error["detail"]
    member.post(URL, {"cluster_uuid": cluster["uuid"], "csr": make_csr()}, status=409)
    assert casts == []


def test_get_of_a_missing_cluster_is_a_404(member, with_ca):
    member.get(f"{URL}/0a0a0a0a-0000-4000-8000-000000000001", status=404)
    member.get(f"{URL}/no-such-cluster", status=404)


# -- POST --------------------------------------------------------------------------------------

def test_post_signs_the_csr_for_the_caller(member, with_ca, casts):
    uuid = with_ca["uuid"]
    csr = make_csr("someone-else", ("system:masters", "more"))
    response = member.post(URL, {"cluster_uuid": uuid, "csr": csr}, status=201)
    body = response.json
    assert set(body) == {"cluster_uuid", "csr", "pem", "links"}
    assert (body["cluster_uuid"], body["csr"]) == (uuid, csr)
    assert body["links"][0]["href"].endswith(f"/v1/certificates/{uuid}")
    assert casts == [("sign_certificate", {"cluster_uuid": uuid, "csr": csr})]
    subject = x509.subject_of(body["pem"])
    assert (subject["CN"], subject["O"]) == (["user-1"], ["system:masters"])
    ca = crypto_x509.load_pem_x509_certificate(with_ca["certificates"]["ca"].encode())
    crypto_x509.load_pem_x509_certificate(body["pem"].encode()).verify_directly_issued_by(ca)


def test_post_accepts_magnum_s_older_bay_uuid_and_a_cluster_name(member, with_ca, casts):
    member.post(URL, {"bay_uuid": with_ca["uuid"], "csr": make_csr()}, status=201)
    member.post(URL, {"cluster_uuid": "c1", "csr": make_csr()}, status=201)
    assert [call[1]["cluster_uuid"] for call in casts] == [with_ca["uuid"]] * 2


@pytest.mark.parametrize(("body", "field"), [
    ({"cluster_uuid": "c1"}, "csr"),
    ({"csr": "CSR"}, "cluster_uuid"),
    ({"cluster_uuid": "c1", "csr": "not a request"}, "csr"),
    ({"cluster_uuid": "c1", "csr": 42}, "csr"),
    ({"cluster_uuid": "c1", "csr": "", "unknown": 1}, "unknown"),
    ({"cluster_uuid": "c1", "csr": "x", "ca_cert_type": "etcd"}, "ca_cert_type"),
])
def test_a_bad_signing_request_is_a_400_naming_the_field(member, with_ca, casts, db, body,
                                                         field):
    before = db_snapshot(db)
    error = error_of(member.post(URL, body, status=400))
    assert error["detail"].startswith(f"{field}:"), error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


def test_a_csr_the_conductor_refuses_is_a_400(member, with_ca, casts):
    broken = make_csr().replace("-----BEGIN CERTIFICATE REQUEST-----\nMI",
                                "-----BEGIN CERTIFICATE REQUEST-----\nXX")
    error = error_of(member.post(URL, {"cluster_uuid": "c1", "csr": broken}, status=400))
    assert error["detail"].startswith("csr:")


def test_post_when_the_conductor_is_unreachable_is_a_503(member, with_ca, casts,
                                                         monkeypatch):
    monkeypatch.setattr(CastRecorder, "fail", True)
    error = error_of(member.post(URL, {"cluster_uuid": "c1", "csr": make_csr()}, status=503))
    assert "conductor" in error["detail"]


def test_post_to_conductors_pinned_below_1_2_is_refused(member, with_ca, casts, monkeypatch):
    monkeypatch.setattr(CastRecorder, "pinned_to_1_1", True)
    error = error_of(member.post(URL, {"cluster_uuid": "c1", "csr": make_csr()}, status=400))
    assert "1.2" in error["detail"]
    assert casts == []


# -- PATCH: CA rotation ------------------------------------------------------------------------

def test_patch_rotates_the_ca_as_an_update(member, with_ca, casts):
    uuid = with_ca["uuid"]
    before = _cluster(uuid)
    response = member.patch(f"{URL}/{uuid}", {}, status=202)
    assert response.json == {"uuid": uuid}  # Magnum's ClusterID
    after = _cluster(uuid)
    assert after.status == "UPDATE_IN_PROGRESS"
    assert after.version == before.version + 1
    assert casts == [("rotate_ca_certificate", {"cluster_uuid": uuid})]
    events = [e.event_type for e in objects.ClusterEvent.list(_admin(), uuid)]
    assert events[-1] == "cluster.rotate_ca"
    # The API leaves the CA to the conductor.
    assert after.ca_cert_ref == with_ca["ca_cert_ref"]


@pytest.mark.parametrize("version", ["1.1", "1.4"])
def test_ca_rotation_answers_below_1_5_as_magnums_does(member, with_ca, casts, version):
    """Magnum documents CA rotation as 1.5 but serves it at any version: so do we."""
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    answer = member.patch(f"{URL}/{with_ca['uuid']}", {}, headers=headers, status=202)
    assert answer.json == {"uuid": with_ca["uuid"]}
    assert [call[0] for call in casts] == ["rotate_ca_certificate"]


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS",
                                    "DELETE_IN_PROGRESS", "CREATE_FAILED"])
def test_ca_rotation_of_a_cluster_that_cannot_be_updated_is_a_409(member, with_ca, casts, db,
                                                                  status):
    _set_status(with_ca["uuid"], status)
    before = db_snapshot(db)
    error = error_of(member.patch(f"{URL}/{with_ca['uuid']}", {}, status=409))
    assert status in error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


def test_ca_rotation_to_conductors_pinned_below_1_2_changes_nothing(member, with_ca, casts,
                                                                    db, monkeypatch):
    monkeypatch.setattr(CastRecorder, "pinned_to_1_1", True)
    before = db_snapshot(db)
    error = error_of(member.patch(f"{URL}/{with_ca['uuid']}", {}, status=400))
    assert "CA rotation needs conductor RPC API 1.2" in error["detail"]
    assert db_snapshot(db) == before


def test_ca_rotation_when_the_cast_fails_is_a_503_and_update_failed(member, with_ca, casts,
                                                                    monkeypatch):
    monkeypatch.setattr(CastRecorder, "fail", True)
    member.patch(f"{URL}/{with_ca['uuid']}", {}, status=503)
    after = _cluster(with_ca["uuid"])
    assert after.status == "UPDATE_FAILED"
    assert "conductor could not be reached" in after.status_reason


# -- PATCH /v1/credentials ---------------------------------------------------------------------

def test_credentials_rotation_is_an_update_answering_the_uuid(member, cluster, casts):
    uuid = cluster["uuid"]
    body = member.patch(f"{CREDENTIALS_URL}/{uuid}", {}, status=202).json
    assert body == {"uuid": uuid}
    after = _cluster(uuid)
    assert after.status == "UPDATE_IN_PROGRESS"
    assert casts == [("rotate_credentials", {"cluster_uuid": uuid, "push": True})]
    events = [e.event_type for e in objects.ClusterEvent.list(_admin(), uuid)]
    assert events[-1] == "cluster.rotate_credentials"
    member.patch(f"{CREDENTIALS_URL}/c1", {}, status=409)  # now being updated


def test_a_broken_trust_is_replaced_during_an_operation_which_goes_on(member, cluster, casts):
    uuid = cluster["uuid"]

    # A resize is under way, and the reconciler found that the cluster's trust stopped
    # working: it says so in prose and records the fault code the API acts on.
    member.patch(f"/v1/clusters/{uuid}", [{"op": "replace", "path": "/node_count",
                                           "value": 3}], status=202)
    casts.clear()
    cluster_operation.finish(
        _admin(), uuid, "resize", "UPDATE_IN_PROGRESS",
        "cannot check the cluster in the cloud: the cluster's trust t-1 no longer works "
        f"(deleted, or its owner lost their roles): 401; renew it with PATCH "
        f"/v1/credentials/{uuid}; still checking", fault=states.Fault.TRUST_BROKEN)
    version = _cluster(uuid).version
    assert member.patch(f"{CREDENTIALS_URL}/{uuid}", {}, status=202).json == {"uuid": uuid}
    after = _cluster(uuid)
    assert (after.status, after.version) == ("UPDATE_IN_PROGRESS", version)  # goes on
    assert casts == [("rotate_credentials", {"cluster_uuid": uuid, "push": False})]


def test_an_operation_in_progress_with_a_working_trust_is_a_409(member, cluster, casts, db):
    uuid = cluster["uuid"]
    member.patch(f"/v1/clusters/{uuid}", [{"op": "replace", "path": "/node_count",
                                           "value": 3}], status=202)
    casts.clear()
    # The prose alone does not open the door: only the fault code recorded by the checks.
    cluster_operation.finish(_admin(), uuid, "resize", "UPDATE_IN_PROGRESS",
                             "the cluster's trust t-1 no longer works (a text, no fault)")
    before = db_snapshot(db)
    error = error_of(member.patch(f"{CREDENTIALS_URL}/{uuid}", {}, status=409))
    assert "stopped working" in error["detail"]
    assert casts == [] and db_snapshot(db) == before


@pytest.mark.parametrize("version", ["1.5", "1.11"])
def test_credentials_rotation_needs_version_1_12(member, cluster, casts, db, version):
    before = db_snapshot(db)
    headers = {"OpenStack-API-Version": f"container-infra {version}"}
    error = error_of(member.patch(f"{CREDENTIALS_URL}/{cluster['uuid']}", {},
                                  headers=headers, status=406))
    assert "1.12" in error["detail"]
    assert casts == []
    assert db_snapshot(db) == before


def test_credentials_rotation_of_a_cluster_being_changed_is_a_409(member, cluster, casts, db):
    _set_status(cluster["uuid"], "DELETE_IN_PROGRESS")
    before = db_snapshot(db)
    error_of(member.patch(f"{CREDENTIALS_URL}/{cluster['uuid']}", {}, status=409))
    assert casts == []
    assert db_snapshot(db) == before


# -- who may ----------------------------------------------------------------------------------

def _every_call(client: Any, uuid: str, status: int | str) -> list[Any]:
    # A signing request names the cluster in its body: Magnum answers 400 for one it cannot
    # find, where the calls naming it in the URL answer 404.
    return [client.get(f"{URL}/{uuid}", status=status),
            client.get(f"{URL}/{uuid}?ca_cert_type=etcd", status=status),
            client.post(URL, {"cluster_uuid": uuid, "csr": make_csr()},
                        status=400 if status == 404 else status),
            client.patch(f"{URL}/{uuid}", {}, status=status),
            client.patch(f"{CREDENTIALS_URL}/{uuid}", {}, status=status)]


def test_another_project_gets_404_for_every_call_and_nothing_changes(member_b, with_ca, casts,
                                                                     db):
    before = db_snapshot(db)
    for ident in (with_ca["uuid"], "c1"):
        for response in _every_call(member_b, ident, 404):
            assert with_ca["certificates"]["ca"] not in response.text
            expected = f"Cluster {ident} could not be found."
            if response.request.method == "POST":
                expected = f"cluster_uuid: {expected}"
            assert error_of(response)["detail"] == expected
    assert casts == []
    assert db_snapshot(db) == before


def test_a_reader_may_read_the_ca_but_not_sign_or_rotate(reader, with_ca, casts, db):
    uuid = with_ca["uuid"]
    assert reader.get(f"{URL}/{uuid}", status=200).json["pem"] == with_ca["certificates"]["ca"]
    before = db_snapshot(db)
    reader.post(URL, {"cluster_uuid": uuid, "csr": make_csr()}, status=403)
    reader.patch(f"{URL}/{uuid}", {}, status=403)
    reader.patch(f"{CREDENTIALS_URL}/{uuid}", {}, status=403)
    assert casts == []
    assert db_snapshot(db) == before


def test_an_admin_reaches_another_project_s_cluster(admin, with_ca, casts):
    uuid = with_ca["uuid"]
    assert admin.get(f"{URL}/{uuid}", status=200).json["pem"] == with_ca["certificates"]["ca"]
    body = admin.post(URL, {"cluster_uuid": uuid, "csr": make_csr()}, status=201).json
    assert x509.subject_of(body["pem"])["CN"] == ["admin"]
    admin.patch(f"{URL}/{uuid}", {}, status=202)
    assert [call[0] for call in casts] == ["sign_certificate", "rotate_ca_certificate"]


# -- secrets -----------------------------------------------------------------------------------

@pytest.fixture
def plaintext_secrets(no_credentials_key, config) -> None:
    """Secrets stored in clear, as `[credentials] allow_plaintext` permits: the worst case
    for a leak through a response."""
    config.set_override("allow_plaintext", True, group="credentials")


def test_no_response_holds_a_private_key(plaintext_secrets, member, member_b, reader, with_ca,
                                         casts):
    uuid = with_ca["uuid"]
    cluster = _cluster(uuid)
    keys = [credentials.load_ca(_admin(), cluster, kind).private_key
            for kind in ("ca", "etcd", "front_proxy")]
    assert all("PRIVATE KEY" in key for key in keys)
    # Stored in clear (plaintext_secrets): a response that copied them would show them.
    stored = objects.X509KeyPair.get_by_uuid(_admin(), cluster.ca_cert_ref).private_key
    assert not encryption.is_encrypted(stored)
    responses = [
        *(member.get(f"{URL}/{uuid}?ca_cert_type={t}", status=200)
          for t in ("kubernetes", "etcd", "front_proxy")),
        member.get(f"{URL}/{uuid}", status=200),
        member.get(f"{URL}/{uuid}?ca_cert_type=bad", status=400),
        member.post(URL, {"cluster_uuid": uuid, "csr": make_csr()}, status=201),
        member.post(URL, {"cluster_uuid": uuid, "csr": "bad"}, status=400),
        member.get(f"/v1/clusters/{uuid}", status=200),
        member.get("/v1/clusters?detail=true", status="*"),
        member.get("/v1/clusters/detail", status="*"),
        reader.post(URL, {"cluster_uuid": uuid, "csr": make_csr()}, status=403),
        *_every_call(member_b, uuid, 404),
        member.patch(f"{URL}/{uuid}", {}, status=202),
    ]
    _set_status(uuid, "UPDATE_COMPLETE")
    responses.append(member.patch(f"{CREDENTIALS_URL}/{uuid}", {}, status=202))
    for response in responses:
        assert "PRIVATE KEY" not in response.text, response.request.url
        for key in keys:
            body_line = key.splitlines()[1]
            assert body_line not in response.text, response.request.url
