"""Issue 12 against the sandbox's real Keystone and its Nova/Glance stand-in (per-user keypairs):
magnum-lite checks a keypair where Magnum does, and answers a missing cloud resource as Magnum
does (status and message, after the field at fault).

Keypairs belong to users: a template (often shared) names a keypair each of its users has under
that name, so the template create does not check it; the cluster create checks the creating
user's, and a missing one is Magnum's KeyPairNotFound, a 404. Every refusal leaves no row behind.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any
import uuid

import pytest

from tests.integration import clusters

pytestmark = [pytest.mark.sandbox, pytest.mark.service]

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
              "alt@sandbox")


def _nova(sandbox: dict, user: str, method: str, path: str, **kwargs: Any) -> Any:
    """A call to the sandbox's Nova as `user` (keypairs are that user's)."""
    return clusters.session(sandbox, user).request(
        path, method, raise_exc=False,
        endpoint_filter={"service_type": "compute", "interface": "public",
                         "region_name": sandbox["region"]}, **kwargs)


def _rows(sandbox: dict, table: str, name: str) -> list[tuple]:
    """The rows of magnum-lite's `table` named `name`, straight from its database."""
    import sqlalchemy

    conf = configparser.ConfigParser(interpolation=None)
    conf.read(Path(sandbox["state_dir"]) / "magnum-lite" / "magnum-lite.conf")
    engine = sqlalchemy.create_engine(conf["database"]["connection"])
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(
                f"SELECT * FROM {table} WHERE name = :n"), {"n": name})]  # noqa: S608
    finally:
        engine.dispose()


def _template_body(name: str, **fields: Any) -> dict:
    return {"name": name, "coe": "kubernetes", "image_id": clusters.IMAGE,
            "external_network_id": "public", "flavor_id": "m1.small",
            "master_flavor_id": "m1.medium", "network_driver": "flannel",
            "docker_volume_size": 5, **fields}


def _error(response: Any, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["status"] == status and error["code"] == "client"
    return error


@pytest.fixture
def alt_keypair(sandbox) -> Any:
    """A keypair of alt_demo only: demo has none of that name."""
    name = f"wire-{uuid.uuid4().hex[:8]}"
    made = _nova(sandbox, "alt_demo", "POST", "/os-keypairs",
                 json={"keypair": {"name": name, "public_key": PUBLIC_KEY}})
    assert made.status_code in (200, 201), made.text
    assert _nova(sandbox, "alt_demo", "GET", f"/os-keypairs/{name}").status_code == 200
    assert _nova(sandbox, "demo", "GET", f"/os-keypairs/{name}").status_code == 404
    yield name
    _nova(sandbox, "alt_demo", "DELETE", f"/os-keypairs/{name}")


def test_the_keypair_is_checked_at_cluster_create_not_template_create(sandbox, openstack_cli,
                                                                      alt_keypair):
    template_name = f"wire-k8s-{uuid.uuid4().hex[:8]}"
    made = clusters.rest(sandbox, "POST", "v1/clustertemplates",
                         json=_template_body(template_name, keypair_id=alt_keypair))
    assert made.status_code == 201, made.text  # Magnum: no keypair check at template create
    template = made.json()
    try:
        assert template["keypair_id"] == alt_keypair
        assert len(_rows(sandbox, "cluster_template", template_name)) == 1

        cluster_name = f"wire-{uuid.uuid4().hex[:8]}"
        error = _error(clusters.rest(sandbox, "POST", "v1/clusters", json={
            "name": cluster_name, "cluster_template_id": template["uuid"]}), 404)
        assert error["detail"] == f"keypair: Unable to find keypair {alt_keypair}."

        # What a user of python-magnumclient sees: Magnum's 404 and message.
        cli_name = f"wire-{uuid.uuid4().hex[:8]}"
        refused = openstack_cli("sandbox", "coe", "cluster", "create", cli_name,
                                "--cluster-template", template["uuid"], check=False)
        assert refused.returncode != 0
        assert f"Unable to find keypair {alt_keypair}" in refused.stderr
        assert "HTTP 404" in refused.stderr

        assert _rows(sandbox, "cluster", cluster_name) == []
        assert _rows(sandbox, "cluster", cli_name) == []
        # Nothing of this template in the API either (other tests' clusters come and go).
        listed = clusters.rest(sandbox, "GET", "v1/clusters").json()["clusters"]
        assert [c for c in listed if c["cluster_template_id"] == template["uuid"]] == []
    finally:
        clusters.rest(sandbox, "DELETE", f"v1/clustertemplates/{template['uuid']}")


def test_a_missing_image_or_flavor_is_magnum_s_400(sandbox, make_template):
    template_name = f"wire-k8s-{uuid.uuid4().hex[:8]}"
    error = _error(clusters.rest(sandbox, "POST", "v1/clustertemplates", json=_template_body(
        template_name, image_id="no-such-image")), 400)
    assert error["detail"] == "image_id: Image no-such-image could not be found."
    assert _rows(sandbox, "cluster_template", template_name) == []

    template = make_template()
    cluster_name = f"wire-{uuid.uuid4().hex[:8]}"
    error = _error(clusters.rest(sandbox, "POST", "v1/clusters", json={
        "name": cluster_name, "cluster_template_id": template["uuid"],
        "flavor_id": "m9.none"}), 400)
    assert error["detail"] == "flavor_id: Unable to find flavor m9.none."
    assert _rows(sandbox, "cluster", cluster_name) == []
