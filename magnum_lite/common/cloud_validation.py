"""Validation of cloud resources named in API requests: images, flavors, keypairs, networks.

A cluster template or cluster that names an image, flavor, keypair or network which does not
exist would only fail minutes later inside Heat; the API checks them at once and answers as
Magnum does (status and message, after the field at fault): ImageNotFound, FlavorNotFound,
ExternalNetworkNotFound, FixedNetworkNotFound and FixedSubnetNotFound are 400s, KeyPairNotFound
a 404, and a name that several resources share a 409 (use the id). When the cloud cannot be
asked (refused, timed out, 5xx, no endpoint) the answer is 503: the request is neither accepted
nor blamed on the user.

Only keystoneauth is used (no python-*client): a few GETs of stable REST APIs, as the user whose
token came with the request, so a user can name only what that user may see. Paths assume the
catalog's usual endpoints: Glance and Neutron unversioned, Nova with its version (`.../v2.1`).
"""

import abc
import dataclasses
import re
from typing import Any
from urllib import parse

from keystoneauth1 import exceptions as ks_exceptions
from oslo_log import log as logging
from oslo_utils import uuidutils

from magnum_lite.common import clients, exception
from magnum_lite.conf import CONF

LOG = logging.getLogger(__name__)

# Display names of the services in ServiceUnavailable, by option group.
_SERVICE_NAMES = {"glance": "Glance", "nova": "Nova", "neutron": "Neutron"}

# Glance pages image lists (default 25); name matches are few, but never follow more pages.
_MAX_PAGES = 20


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What the API needs of an image: its id and the `os_distro` that picks a driver."""

    id: str
    os_distro: str | None


class ResourceValidator(abc.ABC):
    """Checks that a named resource exists for the request's user; raises Magnum's
    exception for a missing one (see the module's docstring), InvalidParameterValue otherwise.

    `field` is the API field that named the resource; it starts every error message.
    """

    @abc.abstractmethod
    def image(self, context: Any, image_ident: str) -> ImageInfo:
        """The active Glance image with this id or (unique) name, as field `image_id`."""

    @abc.abstractmethod
    def flavor(self, context: Any, flavor_ident: str, field: str) -> None:
        """A Nova flavor with this id or name."""

    @abc.abstractmethod
    def keypair(self, context: Any, name: str, field: str) -> None:
        """A Nova keypair of the request's user."""

    @abc.abstractmethod
    def network(self, context: Any, ident: str, field: str, *, external: bool = False) -> None:
        """A Neutron network with this id or (unique) name; `external`: also router:external."""

    @abc.abstractmethod
    def subnet(self, context: Any, ident: str, field: str) -> None:
        """A Neutron subnet with this id or (unique) name."""


class NoopValidator(ResourceValidator):
    """Accepts everything: for noauth development mode and `[cloud] validate_resources=false`."""

    def image(self, context: Any, image_ident: str) -> ImageInfo:
        return ImageInfo(id=image_ident, os_distro=None)

    def flavor(self, context: Any, flavor_ident: str, field: str) -> None:
        return None

    def keypair(self, context: Any, name: str, field: str) -> None:
        return None

    def network(self, context: Any, ident: str, field: str, *, external: bool = False) -> None:
        return None

    def subnet(self, context: Any, ident: str, field: str) -> None:
        return None


def _invalid(field: str, text: str) -> exception.InvalidParameterValue:
    return exception.InvalidParameterValue(err=f"{field}: {text}")


def not_found(error: type[exception.MagnumLiteException], field: str,
              **kwargs: Any) -> exception.MagnumLiteException:
    """Magnum's exception for a missing resource, its message after the field at fault:
    "keypair: Unable to find keypair k1." (the status and message clients know, and the
    field)."""
    return error(f"{field}: {error.message % kwargs}", **kwargs)


# The exception (and its keyword) of a resource not found, by kind.
_NOT_FOUND = {"image": (exception.ImageNotFound, "image_id"),
              "flavor": (exception.FlavorNotFound, "flavor"),
              "network": (exception.FixedNetworkNotFound, "network"),
              "external network": (exception.ExternalNetworkNotFound, "network"),
              "subnet": (exception.FixedSubnetNotFound, "subnet")}


def _error_text(response: Any) -> str:
    """A short reason from an error response: the JSON `message` of Nova/Neutron, else text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])[:300]
    text = re.sub(r"(?is)<head>.*?</head>", " ", response.text or "")  # Glance's HTML errors
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:300]


class CloudValidator(ResourceValidator):
    """Asks Glance, Nova and Neutron over REST, as the request's user (or as `auth`: the
    conductor acting for a cluster)."""

    def __init__(self, auth: Any = None) -> None:
        self._auth = auth

    def _get(self, context: Any, group: str, path: str,
             params: dict | list | None = None) -> dict | None:
        """GET a JSON document; None on 404. Unreachable cloud or any other failure → 503."""
        what = _SERVICE_NAMES[group]
        try:
            response = clients.get_adapter(context, group, auth=self._auth).get(
                path, params=params, raise_exc=False,
                headers={"Accept": "application/json"})
        except ks_exceptions.ClientException as e:
            LOG.warning("%s request GET %s failed: %s", what, path, e)
            raise exception.ServiceUnavailable(what=what, reason=str(e)) from e
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            reason = f"GET {path} answered {response.status_code}: {_error_text(response)}"
            LOG.warning("%s request failed: %s", what, reason)
            raise exception.ServiceUnavailable(what=what, reason=reason)
        try:
            body = response.json()
        except ValueError as e:
            raise exception.ServiceUnavailable(
                what=what, reason=f"GET {path} answered with a body that is not JSON") from e
        if not isinstance(body, dict):
            raise exception.ServiceUnavailable(
                what=what, reason=f"GET {path} answered with an unexpected document")
        return body

    @staticmethod
    def _check_ident(ident: Any, field: str, kind: str) -> str:
        if not isinstance(ident, str) or not ident.strip():
            raise _invalid(field, f"a {kind} id or name is required.")
        return ident

    @staticmethod
    def _one(matches: list[dict], ident: str, field: str, kind: str) -> dict:
        """The single resource named `ident`: none (Magnum's not-found exception of `kind`)
        or several (409, as Magnum answers) are the user's mistake."""
        if not matches:
            error, keyword = _NOT_FOUND[kind]
            raise not_found(error, field, **{keyword: ident})
        if len(matches) > 1:
            raise exception.Conflict(
                f"{field}: Multiple {kind}s exist with same name '{ident}'. Please use the "
                f"{kind} ID instead.")
        return matches[0]

    # Glance

    def _glance_images_named(self, context: Any, name: str) -> list[dict]:
        params: dict | list = {"name": name}
        matches: list[dict] = []
        for _page in range(_MAX_PAGES):
            body = self._get(context, "glance", "/v2/images", params) or {}
            matches.extend(img for img in body.get("images", []) if img.get("name") == name)
            next_link = body.get("next")
            if not next_link:
                break
            # Glance's `next` is "/v2/images?..." without the endpoint's path: keep its query.
            params = parse.parse_qsl(parse.urlsplit(next_link).query)
        return matches

    def image(self, context: Any, image_ident: str) -> ImageInfo:
        field, kind = "image_id", "image"
        ident = self._check_ident(image_ident, field, kind)
        image = None
        if uuidutils.is_uuid_like(ident):
            image = self._get(context, "glance", f"/v2/images/{parse.quote(ident, safe='')}")
        if image is None:
            image = self._one(self._glance_images_named(context, ident), ident, field, kind)
        status = image.get("status")
        if status != "active":
            raise _invalid(field, f"image '{ident}' is not active (status {status}).")
        os_distro = image.get("os_distro")
        return ImageInfo(id=image["id"], os_distro=str(os_distro) if os_distro else None)

    # Nova

    def _nova_flavors_named(self, context: Any, name: str) -> list[dict]:
        # Nova cannot filter flavors by name. is_public=None: also the private flavors the
        # project may use (an admin otherwise sees public ones only).
        matches: list[dict] = []
        params: dict[str, str] = {"is_public": "None"}
        for _page in range(_MAX_PAGES):
            body = self._get(context, "nova", "/flavors/detail", params) or {}
            flavors = body.get("flavors", [])
            matches.extend(f for f in flavors if f.get("name") == name)
            has_next = any(link.get("rel") == "next" for link in body.get("flavors_links", []))
            if not has_next or not flavors:
                break
            params = {"is_public": "None", "marker": str(flavors[-1]["id"])}
        return matches

    def flavor(self, context: Any, flavor_ident: str, field: str) -> None:
        kind = "flavor"
        ident = self._check_ident(flavor_ident, field, kind)
        # Flavor ids are free strings ("1", "m1.small", uuids): try the id, then the name.
        body = self._get(context, "nova", f"/flavors/{parse.quote(ident, safe='')}")
        if body is not None and "flavor" in body:
            return
        self._one(self._nova_flavors_named(context, ident), ident, field, kind)

    def keypair(self, context: Any, name: str, field: str) -> None:
        kind = "keypair"
        ident = self._check_ident(name, field, kind)
        body = self._get(context, "nova", f"/os-keypairs/{parse.quote(ident, safe='')}")
        if body is None or "keypair" not in body:
            raise not_found(exception.KeyPairNotFound, field, keypair=ident)

    # Neutron

    def _neutron_find(self, context: Any, collection: str, ident: str, field: str,
                      kind: str) -> dict:
        if uuidutils.is_uuid_like(ident):
            body = self._get(context, "neutron",
                             f"/v2.0/{collection}/{parse.quote(ident, safe='')}")
            if body is not None and collection[:-1] in body:
                return body[collection[:-1]]
        body = self._get(context, "neutron", f"/v2.0/{collection}", {"name": ident}) or {}
        matches = [item for item in body.get(collection, []) if item.get("name") == ident]
        return self._one(matches, ident, field, kind)

    def network(self, context: Any, ident: str, field: str, *, external: bool = False) -> None:
        kind = "external network" if external else "network"
        ident = self._check_ident(ident, field, kind)
        network = self._neutron_find(context, "networks", ident, field, kind)
        if external and not network.get("router:external"):
            # Magnum looks among the external networks only: an internal one is not found.
            error = not_found(exception.ExternalNetworkNotFound, field, network=ident)
            raise exception.ExternalNetworkNotFound(
                f"{error} Network '{ident}' is not external (router:external is false).",
                network=ident)

    def subnet(self, context: Any, ident: str, field: str) -> None:
        kind = "subnet"
        ident = self._check_ident(ident, field, kind)
        self._neutron_find(context, "subnets", ident, field, kind)


def get_validator() -> ResourceValidator:
    """The validator the configuration asks for.

    No-op without Keystone (noauth has no cloud and no token to ask it with) or when the
    operator turned validation off; otherwise the one that asks the cloud.
    """
    if CONF.api.auth_strategy == "noauth" or not CONF.cloud.validate_resources:
        return NoopValidator()
    return CloudValidator()
