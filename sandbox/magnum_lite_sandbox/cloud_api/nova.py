"""Nova v2.1: flavors (with extra specs), per-user keypairs, and the simulated servers.

Servers are the ones Heat's simulation holds, as the guest agent lists them in the state dir
(``servers``): ACTIVE, or SHUTOFF while a fault stops them (``faults``), which the ``os-stop``
and ``os-start`` actions set and clear as Nova's would (202, and 409 when the server is
already in that state); a stop is played by the agent on its next sweep. The ``rebuild``
action re-images a server in place as Nova's does (an image by id, which must exist; new
``user_data`` from 2.57 on, else the server keeps its own; the server's metadata becomes the
rebuild's): it is recorded for the agent (``rebuilds``), and the server shows REBUILD until
the agent has booted it again (a stopped server stays SHUTOFF, as Nova leaves it). A
server's image is shown by its Glance id.

Bodies follow the request's microversion where the fields magnum-lite and the CLI use change:
keypair `type` (2.2), keypair create/delete status codes (2.2), flavor `description` (2.55),
flavor `extra_specs` (2.61), `swap` as 0 instead of "" (2.75), required `public_key` (2.92).
"""

import base64
import binascii
import datetime
import hashlib
import re
from typing import Any
from urllib import parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oslo_utils import strutils
import webob

from magnum_lite_sandbox import faults, rebuilds, servers
from magnum_lite_sandbox.cloud_api import base
from magnum_lite_sandbox.cloud_api.store import Store

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
MAX_LIMIT = 1000  # Nova's [api] max_limit
# Nova's error document key by status (its fault wrapper); others are computeFault.
_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                405: "badMethod", 409: "conflictingRequest", 413: "overLimit"}
_KEYPAIR_NAME = re.compile(r"^[a-zA-Z0-9 _.@-]{1,255}$")
_VERSION_HEADER = "OpenStack-API-Version"
_LEGACY_VERSION_HEADER = "X-OpenStack-Nova-API-Version"
_COLLECTIONS = ("flavors", "os-keypairs", "servers")
#: (status, OS-EXT-STS:vm_state, OS-EXT-STS:power_state) of a running and a stopped server
#: (power states: 1 RUNNING, 4 SHUTDOWN).
_RUNNING = ("ACTIVE", "active", 1)
_SHUTOFF = ("SHUTOFF", "stopped", 4)
_REBUILDING = ("REBUILD", "active", 1)
#: The fields of a rebuild body this stand-in takes, by the microversion that added them
#: (the others of Nova's schema are accepted and ignored).
_REBUILD_FIELDS = {"imageRef": (2, 1), "metadata": (2, 1), "name": (2, 1), "adminPass": (2, 1),
                   "accessIPv4": (2, 1), "accessIPv6": (2, 1), "OS-DCF:diskConfig": (2, 1),
                   "preserve_ephemeral": (2, 1), "description": (2, 19),
                   "key_name": (2, 54), "user_data": (2, 57)}


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested_version(req: webob.Request) -> tuple[int, int]:
    """The microversion asked for: 2.1 when none, the maximum for `latest`; 406 outside."""
    text = None
    header = req.headers.get(_VERSION_HEADER, "")
    for item in header.split(","):
        service, _, value = item.strip().partition(" ")
        if service.lower() == "compute" and value.strip():
            text = value.strip()
    if text is None:
        text = req.headers.get(_LEGACY_VERSION_HEADER)
    if not text:
        return MIN_VERSION
    if text.lower() == "latest":
        return MAX_VERSION
    match = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    if match is None:
        raise base.ApiError(400, f"API Version String {text} is of invalid format. Must be of "
                                 "format MajorNum.MinorNum.")
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise base.ApiError(406, f"Version {text} is not supported by the API. Minimum is "
                                 f"{_fmt(MIN_VERSION)} and maximum is {_fmt(MAX_VERSION)}.")
    return version


def fingerprint(public_key: str) -> str:
    """Nova's keypair fingerprint: MD5 of the key blob, colon-separated hex; 400 if invalid."""
    parts = public_key.strip().split()
    try:
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise ValueError(public_key)
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error) as e:
        raise base.ApiError(400, "Keypair data is invalid: failed to generate fingerprint") \
            from e
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def generate_keypair() -> tuple[str, str]:
    """(private key PEM, public key) for a keypair created without one, as Nova < 2.92 does."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + " Generated-by-Nova"


class NovaApp(base.ServiceApp):
    """Flavors, keypairs and servers under /v2.1 (also /v2.1/{project_id}/...)."""

    routes = [
        ("GET", r"/", "versions"),
        ("GET", r"/v2\.1", "version"),
        ("GET", r"/v2\.1/flavors", "list_flavors"),
        ("GET", r"/v2\.1/flavors/detail", "list_flavors_detail"),
        ("GET", r"/v2\.1/flavors/(?P<flavor_id>[^/]+)", "show_flavor"),
        ("GET", r"/v2\.1/flavors/(?P<flavor_id>[^/]+)/os-extra_specs", "list_extra_specs"),
        ("GET", r"/v2\.1/flavors/(?P<flavor_id>[^/]+)/os-extra_specs/(?P<key>[^/]+)",
         "show_extra_spec"),
        ("GET", r"/v2\.1/os-keypairs", "list_keypairs"),
        ("POST", r"/v2\.1/os-keypairs", "create_keypair"),
        ("GET", r"/v2\.1/os-keypairs/(?P<name>[^/]+)", "show_keypair"),
        ("DELETE", r"/v2\.1/os-keypairs/(?P<name>[^/]+)", "delete_keypair"),
        ("GET", r"/v2\.1/servers", "list_servers"),
        ("GET", r"/v2\.1/servers/detail", "list_servers"),
        ("GET", r"/v2\.1/servers/(?P<server_id>[^/]+)", "show_server"),
        ("POST", r"/v2\.1/servers/(?P<server_id>[^/]+)/action", "server_action"),
    ]

    public_paths = frozenset({"/", "/v2.1"})

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._servers = servers.Servers(store.state_dir)
        self._faults = faults.Faults(store.state_dir) if store.state_dir else None
        self._rebuilds = rebuilds.Rebuilds(store.state_dir) if store.state_dir else None

    def normalize_path(self, path: str) -> str:
        # Old catalogs put the project id after the version (.../v2.1/%(project_id)s).
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "v2.1" and parts[2] not in _COLLECTIONS:
            del parts[2]
        return "/".join(parts)

    def error_response(self, req: webob.Request, error: base.ApiError) -> webob.Response:
        name = _FAULT_NAMES.get(error.status, "computeFault")
        return base.json_response({name: {"code": error.status, "message": error.message}},
                                  status=error.status)

    def decorate(self, req: webob.Request, response: webob.Response, request_id: str) -> None:
        response.headers["X-Compute-Request-Id"] = request_id
        try:
            version = _fmt(requested_version(req))
        except base.ApiError:
            return
        response.headers[_VERSION_HEADER] = f"compute {version}"
        response.headers[_LEGACY_VERSION_HEADER] = version
        response.headers["Vary"] = f"{_VERSION_HEADER}, {_LEGACY_VERSION_HEADER}"

    # Versions

    def _version_doc(self, req: webob.Request, current: bool) -> dict:
        doc: dict[str, Any] = {
            "id": "v2.1", "status": "CURRENT", "version": _fmt(MAX_VERSION),
            "min_version": _fmt(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{req.host_url}/v2.1/"}]}
        if current:
            doc["links"].append({"rel": "describedby", "type": "text/html",
                                 "href": "http://docs.openstack.org/"})
            doc["media-types"] = [{"base": "application/json",
                                   "type": "application/vnd.openstack.compute+json;version=2.1"}]
        return doc

    def versions(self, req: webob.Request, who: base.Identity) -> webob.Response:
        legacy = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                  "updated": "2011-01-21T11:33:21Z",
                  "links": [{"rel": "self", "href": f"{req.host_url}/v2/"}]}
        return base.json_response({"versions": [legacy, self._version_doc(req, False)]})

    def version(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return base.json_response({"version": self._version_doc(req, True)})

    # Flavors

    def _flavor(self, req: webob.Request, flavor: dict, detail: bool) -> dict:
        version = requested_version(req)
        links = [{"rel": "self", "href": f"{req.host_url}/v2.1/flavors/{flavor['id']}"},
                 {"rel": "bookmark", "href": f"{req.host_url}/flavors/{flavor['id']}"}]
        body: dict[str, Any] = {"id": flavor["id"], "name": flavor["name"]}
        if detail:
            body.update({
                "ram": flavor["ram"], "vcpus": flavor["vcpus"], "disk": flavor["disk"],
                "swap": flavor["swap"] if version >= (2, 75) else (flavor["swap"] or ""),
                "OS-FLV-EXT-DATA:ephemeral": flavor["ephemeral"],
                "OS-FLV-DISABLED:disabled": flavor["disabled"],
                "os-flavor-access:is_public": flavor["is_public"],
                "rxtx_factor": flavor["rxtx_factor"]})
        body["links"] = links
        if version >= (2, 55):
            body["description"] = flavor["description"]
        if detail and version >= (2, 61):
            body["extra_specs"] = dict(flavor["extra_specs"])
        return body

    def _flavor_list(self, req: webob.Request, detail: bool) -> webob.Response:
        params = req.GET
        is_public = params.get("is_public", "true")
        if is_public.lower() not in ("none", "all"):
            try:
                strutils.bool_from_string(is_public, strict=True)
            except ValueError as e:
                raise base.ApiError(400, f"Invalid is_public filter [{is_public}]") from e
        minimums = {}
        for param, field in (("minRam", "ram"), ("minDisk", "disk")):
            if param in params:
                try:
                    minimums[field] = int(params[param])
                except ValueError as e:
                    raise base.ApiError(400, f"Invalid {param} filter "
                                             f"[{params[param]}]") from e
        limit = base.parse_limit(params.get("limit"), MAX_LIMIT, MAX_LIMIT)
        with self.store.lock:
            flavors = [f for f in self.store.flavors.values()
                       if all(f[field] >= value for field, value in minimums.items())]
        flavors.sort(key=lambda f: f["id"])  # Nova's default sort key: flavorid
        chunk, full = base.page(flavors, params.get("marker"), limit)
        body: dict[str, Any] = {"flavors": [self._flavor(req, f, detail) for f in chunk]}
        if full:
            query = [(k, v) for k, v in params.items() if k not in ("marker", "limit")]
            query += [("limit", str(limit)), ("marker", chunk[-1]["id"])]
            path = "flavors/detail" if detail else "flavors"
            body["flavors_links"] = [{"rel": "next", "href": f"{req.host_url}/v2.1/{path}?"
                                                             f"{parse.urlencode(query)}"}]
        return base.json_response(body)

    def list_flavors(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return self._flavor_list(req, detail=False)

    def list_flavors_detail(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return self._flavor_list(req, detail=True)

    def _get_flavor(self, flavor_id: str) -> dict:
        flavor = self.store.flavors.get(flavor_id)
        if flavor is None:
            raise base.ApiError(404, f"Flavor {flavor_id} could not be found.")
        return flavor

    def show_flavor(self, req: webob.Request, who: base.Identity,
                    flavor_id: str) -> webob.Response:
        with self.store.lock:
            flavor = self._get_flavor(flavor_id)
            return base.json_response({"flavor": self._flavor(req, flavor, detail=True)})

    def list_extra_specs(self, req: webob.Request, who: base.Identity,
                         flavor_id: str) -> webob.Response:
        with self.store.lock:
            specs = dict(self._get_flavor(flavor_id)["extra_specs"])
        return base.json_response({"extra_specs": specs})

    def show_extra_spec(self, req: webob.Request, who: base.Identity, flavor_id: str,
                        key: str) -> webob.Response:
        with self.store.lock:
            specs = self._get_flavor(flavor_id)["extra_specs"]
            if key not in specs:
                raise base.ApiError(404, f"Flavor {flavor_id} has no extra specs with key "
                                         f"{key}.")
            return base.json_response({key: specs[key]})

    # Keypairs: owned by a user, not a project; an admin may name another user (2.10).

    def _keypair_user(self, req: webob.Request, who: base.Identity, action: str) -> str:
        user_id = req.GET.get("user_id")
        if user_id is None or requested_version(req) < (2, 10) or user_id == who.user_id:
            return who.user_id
        if not who.is_admin:
            raise base.ApiError(403, f"Policy doesn't allow os_compute_api:os-keypairs:{action} "
                                     "to be performed.")
        return user_id

    @staticmethod
    def _keypair_summary(keypair: dict, version: tuple[int, int]) -> dict:
        body = {"name": keypair["name"], "public_key": keypair["public_key"],
                "fingerprint": keypair["fingerprint"]}
        if version >= (2, 2):
            body["type"] = keypair["type"]
        return body

    def list_keypairs(self, req: webob.Request, who: base.Identity) -> webob.Response:
        version = requested_version(req)
        user_id = self._keypair_user(req, who, "index")
        with self.store.lock:
            keypairs = sorted((k for (owner, _), k in self.store.keypairs.items()
                               if owner == user_id), key=lambda k: k["name"])
        paged = version >= (2, 35)
        limit = base.parse_limit(req.GET.get("limit"), MAX_LIMIT, MAX_LIMIT) if paged else None
        marker = req.GET.get("marker") if paged else None
        if marker is not None:
            names = [k["name"] for k in keypairs]
            if marker not in names:
                raise base.ApiError(400, f"marker [{marker}] not found")
            keypairs = keypairs[names.index(marker) + 1:]
        if limit is not None:
            keypairs = keypairs[:limit]
        body: dict[str, Any] = {"keypairs": [{"keypair": self._keypair_summary(k, version)}
                                             for k in keypairs]}
        if paged and keypairs and len(keypairs) == limit:
            query = parse.urlencode({"limit": limit, "marker": keypairs[-1]["name"]})
            body["keypairs_links"] = [{"rel": "next",
                                       "href": f"{req.host_url}/v2.1/os-keypairs?{query}"}]
        return base.json_response(body)

    def show_keypair(self, req: webob.Request, who: base.Identity,
                     name: str) -> webob.Response:
        version = requested_version(req)
        user_id = self._keypair_user(req, who, "show")
        with self.store.lock:
            keypair = self.store.keypairs.get((user_id, name))
            if keypair is None:
                raise base.ApiError(404, f"Keypair {name} not found for user {user_id}")
            body = self._keypair_summary(keypair, version)
            body.update({"user_id": user_id, "id": keypair["id"], "deleted": False,
                         "created_at": keypair["created_at"], "updated_at": None,
                         "deleted_at": None})
        return base.json_response({"keypair": body})

    def create_keypair(self, req: webob.Request, who: base.Identity) -> webob.Response:
        version = requested_version(req)
        data = base.read_json(req, "keypair")
        name = data.get("name")
        if not isinstance(name, str) or not _KEYPAIR_NAME.match(name) or name != name.strip():
            raise base.ApiError(400, "Invalid input for field/attribute name. Value: "
                                     f"{name}. Keypair name is not valid.")
        key_type = data.get("type", "ssh") if version >= (2, 2) else "ssh"
        if key_type not in ("ssh", "x509"):
            raise base.ApiError(400, f"Invalid input for field/attribute type. Value: "
                                     f"{key_type}. '{key_type}' is not one of ['ssh', 'x509']")
        user_id = who.user_id
        if "user_id" in data and version >= (2, 10) and data["user_id"] != who.user_id:
            if not who.is_admin:
                raise base.ApiError(403, "Policy doesn't allow os_compute_api:os-keypairs:"
                                         "create to be performed.")
            user_id = str(data["user_id"])
        public_key = data.get("public_key")
        private_key = None
        if public_key is None:
            if version >= (2, 92):
                raise base.ApiError(400, "Invalid input for field/attribute keypair. Value: "
                                         f"{data}. 'public_key' is a required property")
            private_key, public_key = generate_keypair()
        if not isinstance(public_key, str):
            raise base.ApiError(400, "Keypair data is invalid: failed to generate fingerprint")
        key_fingerprint = fingerprint(public_key)
        with self.store.lock:
            if (user_id, name) in self.store.keypairs:
                raise base.ApiError(409, f"Key pair '{name}' already exists.")
            created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
            keypair = {"name": name, "public_key": public_key, "fingerprint": key_fingerprint,
                       "type": key_type, "id": next(self.store.keypair_ids),
                       "created_at": created}
            self.store.keypairs[(user_id, name)] = keypair
        body = self._keypair_summary(keypair, version)
        body["user_id"] = user_id
        if private_key is not None:
            body["private_key"] = private_key
        return base.json_response({"keypair": body}, status=201 if version >= (2, 2) else 200)

    def delete_keypair(self, req: webob.Request, who: base.Identity,
                       name: str) -> webob.Response:
        user_id = self._keypair_user(req, who, "delete")
        with self.store.lock:
            if self.store.keypairs.pop((user_id, name), None) is None:
                raise base.ApiError(404, f"Keypair {name} not found for user {user_id}")
        return base.empty_response(204 if requested_version(req) >= (2, 2) else 202)

    # Servers: Heat's simulated ones, as the agent lists them.

    def _visible(self, who: base.Identity, all_projects: bool = False) -> list[dict]:
        """The caller's servers (every project's for an admin asking all_tenants)."""
        with self.store.lock:
            known = self._servers.list()
        return [s for s in known if s.get("project_id") == who.project_id
                or who.is_admin and all_projects]

    def _find(self, who: base.Identity, server_id: str) -> dict:
        found = next((s for s in self._visible(who, all_projects=True)
                      if s["id"] == server_id), None)
        if found is None:
            raise base.ApiError(404, f"Instance {server_id} could not be found.")
        return found

    def _rebuild(self, server: dict) -> dict[str, Any] | None:
        """The server's last rebuild, if any."""
        return self._rebuilds.all().get(server["id"]) if self._rebuilds else None

    def _state(self, server: dict) -> tuple[str, str, int]:
        rebuild = self._rebuild(server)
        if rebuild is not None and int(rebuild.get("seq") or 0) > int(server.get("rebuilt") or 0):
            return _REBUILDING
        stopped = self._faults.active().stopped if self._faults else frozenset()
        return _SHUTOFF if server["id"] in stopped else _RUNNING

    def _image_id(self, ref: str) -> str:
        """A Glance image's id from Heat's image property (its id or its name)."""
        if ref in self.store.images:
            return ref
        return next((i for i, image in self.store.images.items() if image["name"] == ref), ref)

    def _server(self, req: webob.Request, server: dict, detail: bool,
                admin: bool = False) -> dict:
        sid = server["id"]
        links = [{"rel": "self", "href": f"{req.host_url}/v2.1/servers/{sid}"},
                 {"rel": "bookmark", "href": f"{req.host_url}/servers/{sid}"}]
        body: dict[str, Any] = {"id": sid, "name": server.get("name", ""), "links": links}
        if not detail:
            return body
        status, vm_state, power_state = self._state(server)
        created = _nova_time(server.get("created"))
        ip = server.get("internal_ip") or ""
        mac = "fa:16:3e:" + ":".join(hashlib.sha256(sid.encode()).hexdigest()[i:i + 2]
                                      for i in (0, 2, 4))
        rebuild = self._rebuild(server) or {}
        image = rebuild.get("image") or self._image_id(server.get("image") or "")
        body.update({
            "status": status, "tenant_id": server.get("project_id", ""), "user_id": "",
            "metadata": dict(rebuild.get("metadata") or {"role": server.get("role", "")}),
            "created": created, "updated": _nova_time(rebuild.get("at")) if rebuild else created,
            "hostId": hashlib.sha224(f"{server.get('project_id', '')}sandbox".encode())
            .hexdigest(),
            "addresses": {"private": [{"version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
                                       "OS-EXT-IPS-MAC:mac_addr": mac}]} if ip else {},
            "image": {"id": image, "links": []} if image else "",
            "flavor": self._server_flavor(req, server.get("flavor") or ""),
            "accessIPv4": "", "accessIPv6": "", "progress": 0, "key_name": None,
            "config_drive": "", "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": "nova", "OS-SRV-USG:launched_at": created,
            "OS-SRV-USG:terminated_at": None,
            "OS-EXT-STS:task_state": "rebuilding" if status == _REBUILDING[0] else None,
            "OS-EXT-STS:vm_state": vm_state, "OS-EXT-STS:power_state": power_state,
            "os-extended-volumes:volumes_attached": [],
            "security_groups": [{"name": "default"}]})
        if admin and requested_version(req) >= (2, 3):
            body.update(self._admin_attributes(server))
        return body

    def _admin_attributes(self, server: dict) -> dict[str, Any]:
        """The OS-EXT-SRV-ATTR fields Nova shows an admin (2.3 on), user data included: the
        one the server last booted with (a rebuild's, else what the agent saw it boot)."""
        rebuild = self._rebuild(server) or {}
        data = rebuild.get("user_data")
        if data is None and self.store.state_dir:
            data = servers.read_user_data(server["id"], self.store.state_dir)
        return {"OS-EXT-SRV-ATTR:host": "sandbox", "OS-EXT-SRV-ATTR:hypervisor_hostname":
                "sandbox", "OS-EXT-SRV-ATTR:instance_name": f"instance-{server['id'][:8]}",
                "OS-EXT-SRV-ATTR:hostname": server.get("name", ""),
                "OS-EXT-SRV-ATTR:reservation_id": "r-sandbox",
                "OS-EXT-SRV-ATTR:launch_index": 0, "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                "OS-EXT-SRV-ATTR:user_data":
                    base64.b64encode(data.encode()).decode() if data else None}

    def _server_flavor(self, req: webob.Request, ref: str) -> dict:
        """The server's flavor: a link before 2.47, its description from 2.47 on."""
        flavor = self.store.flavors.get(ref) or next(
            (f for f in self.store.flavors.values() if f["name"] == ref), None)
        if requested_version(req) < (2, 47):
            return {"id": flavor["id"] if flavor else ref, "links": []}
        if flavor is None:
            return {"original_name": ref, "vcpus": 0, "ram": 0, "disk": 0, "ephemeral": 0,
                    "swap": 0, "extra_specs": {}}
        return {"original_name": flavor["name"], "vcpus": flavor["vcpus"],
                "ram": flavor["ram"], "disk": flavor["disk"],
                "ephemeral": flavor["ephemeral"], "swap": flavor["swap"],
                "extra_specs": dict(flavor["extra_specs"])}

    def list_servers(self, req: webob.Request, who: base.Identity) -> webob.Response:
        requested_version(req)
        detail = req.path.rstrip("/").endswith("/detail")
        params = req.GET
        all_projects = strutils.bool_from_string(params.get("all_tenants", "0"))
        if all_projects and not who.is_admin:
            all_projects = False  # Nova's policy: a non-admin's all_tenants is ignored
        found = self._visible(who, all_projects)
        if "name" in params:
            try:
                pattern = re.compile(params["name"])
            except re.error:
                pattern = re.compile(re.escape(params["name"]))
            found = [s for s in found if pattern.search(s.get("name", ""))]
        if "status" in params:
            found = [s for s in found if self._state(s)[0] == params["status"].upper()]
        limit = base.parse_limit(params.get("limit"), MAX_LIMIT, MAX_LIMIT)
        chunk, _ = base.page(found, params.get("marker"), limit)
        return base.json_response({"servers": [self._server(req, s, detail, who.is_admin)
                                                for s in chunk]})

    def show_server(self, req: webob.Request, who: base.Identity,
                    server_id: str) -> webob.Response:
        requested_version(req)
        return base.json_response({"server": self._server(req, self._find(who, server_id),
                                                          detail=True, admin=who.is_admin)})

    def server_action(self, req: webob.Request, who: base.Identity,
                      server_id: str) -> webob.Response:
        """os-stop and os-start: the server is shut off or started (by the agent, on its
        next sweep); 409 when it already is. rebuild: see the module's docstring."""
        requested_version(req)
        try:
            data = req.json
        except ValueError as e:
            raise base.ApiError(400, "Malformed request body") from e
        action = next(iter(data), None) if isinstance(data, dict) and len(data) == 1 else None
        if action not in ("os-stop", "os-start", "rebuild"):
            raise base.ApiError(400, f"There is no such action: {action}" if action else
                                "Malformed request body")
        server = self._find(who, server_id)
        status, vm_state, _ = self._state(server)
        if status == _REBUILDING[0]:
            raise base.ApiError(409, f"Cannot '{action.removeprefix('os-')}' instance "
                                     f"{server_id} while it is in task_state rebuilding")
        if action == "rebuild":
            return self._rebuild_server(req, server, data["rebuild"])
        wanted = "stopped" if action == "os-stop" else "active"
        if vm_state == wanted:
            raise base.ApiError(409, f"Cannot '{action[3:]}' instance {server_id} while it is "
                                     f"in vm_state {vm_state}")
        if action == "os-stop":
            faults.stop_server(server_id, server.get("name", ""), self.store.state_dir)
        else:
            faults.start_server(server_id, self.store.state_dir)
        return base.empty_response(202)


    def _rebuild_server(self, req: webob.Request, server: dict, body: Any) -> webob.Response:
        """Nova's rebuild: checked as its schema and image lookup do, then recorded."""
        version = requested_version(req)
        if self._rebuilds is None:
            raise base.ApiError(409, "This stand-in has no state dir to rebuild servers in")
        if not isinstance(body, dict):
            raise base.ApiError(400, "Invalid input for field/attribute rebuild. Value: "
                                     f"{body}. {body!r} is not of type 'object'")
        unexpected = sorted(k for k in body if k not in _REBUILD_FIELDS
                            or version < _REBUILD_FIELDS[k])
        if unexpected:
            names = ", ".join(repr(k) for k in unexpected)
            raise base.ApiError(400, "Invalid input for field/attribute rebuild. Additional "
                                     f"properties are not allowed ({names} was unexpected)")
        image_ref = body.get("imageRef")
        if not isinstance(image_ref, str) or not image_ref:
            raise base.ApiError(400, "Invalid input for field/attribute rebuild. "
                                     "'imageRef' is a required property")
        image = self.store.images.get(image_ref)
        if image is None:
            raise base.ApiError(400, f"Cannot find requested image {image_ref}: Image "
                                     f"{image_ref} could not be found.")
        if image.get("status") != "active":
            raise base.ApiError(400, f"Image {image_ref} is not active.")
        user_data = body.get("user_data")
        if user_data is not None:
            try:
                if not isinstance(user_data, str) or len(user_data) > 65535:
                    raise ValueError
                user_data = base64.b64decode(user_data, validate=True).decode()
            except (ValueError, binascii.Error, UnicodeDecodeError) as err:
                raise base.ApiError(400, "Invalid input for field/attribute user_data. Value: "
                                         "... is not a base64 string of at most 65535 "
                                         "characters") from err
        metadata = body.get("metadata")
        if metadata is None:
            metadata = dict((self._rebuild(server) or {}).get("metadata")
                            or {"role": server.get("role", "")})
        elif not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise base.ApiError(400, "Invalid input for field/attribute metadata. Value: "
                                     f"{metadata}. It is not an object of strings")
        rebuilds.record(server["id"], image_ref, user_data, metadata,
                        datetime.datetime.now(datetime.UTC).isoformat(), self.store.state_dir)
        shown = self._server(req, server, detail=True)
        shown["adminPass"] = base64.b32encode(hashlib.sha256(
            server["id"].encode()).digest())[:12].decode()
        return base.json_response({"server": shown}, status=202)


def _nova_time(value: str | None) -> str:
    """Heat's timestamps as Nova writes a server's: seconds, UTC, "Z"."""
    if not value:
        return "1970-01-01T00:00:00Z"
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "1970-01-01T00:00:00Z"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
