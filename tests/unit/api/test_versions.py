"""Microversions: the OpenStack-API-Version header on requests and on every response."""

import pytest

from magnum_lite.api import versions

MAX = str(versions.MAX_VERSION)
# The version after the newest (not served until it is added).
ABOVE_MAX = f"{versions.MAX_VERSION.major}.{versions.MAX_VERSION.minor + 1}"


def _headers(response):
    return (response.headers["OpenStack-API-Minimum-Version"],
            response.headers["OpenStack-API-Maximum-Version"],
            response.headers["OpenStack-API-Version"])


def test_no_header_means_the_minimum_version(app):
    response = app.get("/v1/clustertemplates", status=200)
    assert _headers(response) == ("container-infra 1.1", f"container-infra {MAX}",
                                  "container-infra 1.1")
    assert "OpenStack-API-Version" in response.headers["Vary"]


def test_latest_means_the_maximum_version(app):
    response = app.get("/v1/clustertemplates",
                       headers={"OpenStack-API-Version": "container-infra latest"}, status=200)
    assert response.headers["OpenStack-API-Version"] == f"container-infra {MAX}"


@pytest.mark.parametrize("service", ["container-infra", "container-infrastructure-management",
                                     "container-infrastructure", "Container-Infra"])
def test_every_service_name_is_accepted(app, service):
    response = app.get("/v1/clustertemplates",
                       headers={"OpenStack-API-Version": f"{service} 1.4"}, status=200)
    assert response.headers["OpenStack-API-Version"] == "container-infra 1.4"


def test_entries_of_other_services_are_ignored(app):
    response = app.get("/v1/clustertemplates",
                       headers={"OpenStack-API-Version": "compute 2.90, container-infra 1.6"},
                       status=200)
    assert response.headers["OpenStack-API-Version"] == "container-infra 1.6"
    response = app.get("/v1/clustertemplates",
                       headers={"OpenStack-API-Version": "compute 2.90"}, status=200)
    assert response.headers["OpenStack-API-Version"] == "container-infra 1.1"


@pytest.mark.parametrize("version", ["1.0", ABOVE_MAX, "2.1", "0.9", "1.99"])
def test_versions_out_of_range_are_not_acceptable(app, version):
    response = app.get("/v1/clustertemplates",
                       headers={"OpenStack-API-Version": f"container-infra {version}"},
                       status=406)
    error = response.json["errors"][0]
    assert error["status"] == 406
    assert f"[1.1, {MAX}]" in error["detail"]
    assert version in error["detail"]
    assert error["max_version"] == MAX and error["min_version"] == "1.1"
    assert error["request_id"] == response.headers["x-openstack-request-id"]
    assert response.headers["OpenStack-API-Version"] == f"container-infra {version}"
    assert response.headers["OpenStack-API-Maximum-Version"] == f"container-infra {MAX}"
    assert "OpenStack-API-Version" in response.headers["Vary"]


@pytest.mark.parametrize("value", ["container-infra", "container-infra 1", "container-infra 1.x",
                                   "container-infra 1.1.1", "container-infra one.two",
                                   "container-infra 1.1 extra", "container-infra -1.1"])
def test_malformed_versions_are_bad_requests(app, value):
    response = app.get("/v1/clustertemplates", headers={"OpenStack-API-Version": value},
                       status=400)
    error = response.json["errors"][0]
    assert "OpenStack-API-Version" in error["detail"]
    assert response.headers["OpenStack-API-Version"] == "container-infra 1.1"


@pytest.mark.parametrize("path", ["/", "/healthcheck"])
def test_unversioned_documents_ignore_a_bad_version(app, path):
    response = app.get(path, headers={"OpenStack-API-Version": "container-infra 9.9"},
                       status=200)
    assert response.headers["OpenStack-API-Version"] == "container-infra 1.1"


def test_errors_carry_the_version_headers_too(app):
    response = app.get("/v1/nowhere", headers={"OpenStack-API-Version": "container-infra 1.5"},
                       status=404)
    assert _headers(response)[2] == "container-infra 1.5"
    assert "OpenStack-API-Version" in response.headers["Vary"]


def test_parse_returns_comparable_versions():
    assert versions.parse(None) == versions.MIN_VERSION
    assert versions.parse("container-infra 1.10") > versions.parse("container-infra 1.9")
    assert str(versions.parse("container-infra latest")) == MAX


def test_a_method_gated_to_a_newer_version_is_not_acceptable_below_it(member):
    response = member.patch("/v1/credentials/nowhere", {}, status=406,
                            headers={"OpenStack-API-Version": "container-infra 1.11"})
    assert "1.12" in response.json["errors"][0]["detail"]
    member.patch("/v1/credentials/nowhere", {}, status=404,
                 headers={"OpenStack-API-Version": "container-infra 1.12"})


def test_stats_answer_at_every_version_as_magnums_do(member):
    """Magnum documents stats as 1.4 but serves them at any version: so do we."""
    member.get("/v1/stats", headers={"OpenStack-API-Version": "container-infra 1.1"},
               status=200)
