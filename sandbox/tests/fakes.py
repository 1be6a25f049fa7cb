"""What the guest agent's tests share: a fake python-heatclient, the stacks the drivers make
in it, a recording stand-in for a COE API, and a Kubernetes client for a served one.

The fake returns what heatclient returns (objects whose attributes are the API's JSON
fields: ``stack_status``, ``resource_status``, ``physical_resource_id``, a handle's
``attributes`` with ``endpoint`` and ``token``), so the agent and the cluster APIs are tested
against the shapes of the real API, not against themselves.
"""

import base64
import json
from types import SimpleNamespace

import kubernetes.client as k8s
import yaml

from magnum_lite.common import x509
from magnum_lite.drivers.heat import cloud_init
from magnum_lite.drivers.k8s_ubuntu_v1 import userdata
from magnum_lite_sandbox.user_data import CA_CERT_PATH, CA_KEY_PATH, NODE_ENV_PATH

WAIT_HANDLE = "OS::Heat::WaitConditionHandle"


class FakeHTTPNotFound(Exception):
    code = 404


class FakeHeat:
    """Just enough of heatclient.v1.client.Client: stacks, resources, software_deployments."""

    def __init__(self):
        self.stacks_by_id: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}
        self.calls: list[tuple] = []
        self.stacks = SimpleNamespace(list=self._stacks_list, template=self._template,
                                      get=self._stack_get)
        self.resources = SimpleNamespace(list=self._resources_list, get=self._resource_get)
        self.software_deployments = SimpleNamespace(list=self._sd_list, update=self._sd_update,
                                                    get=self._sd_get)

    def add_stack(self, sid, name, template, resources, parameters=None,
                  status="CREATE_IN_PROGRESS", outputs=None, tags=(), nested=False):
        self.stacks_by_id[sid] = {"id": sid, "stack_name": name, "stack_status": status,
                                  "creation_time": "2026-11-21T18:00:00Z", "updated_time": None,
                                  "template": template, "parameters": parameters or {},
                                  "resources": resources, "outputs": outputs or {},
                                  "tags": list(tags), "nested": nested}

    def _lookup(self, ref):
        name, sid = ref.split("/") if "/" in ref else (None, ref)  # by id alone: Heat redirects
        stack = self.stacks_by_id.get(sid)
        if stack is None or name is not None and stack["stack_name"] != name:
            raise FakeHTTPNotFound(ref)
        return stack

    @staticmethod
    def _summary(stack):
        """What Heat's stack list shows: no template, parameters, resources or outputs."""
        return SimpleNamespace(**{k: v for k, v in stack.items() if k not in (
            "template", "parameters", "resources", "outputs", "nested")})

    def _stacks_list(self, **kwargs):
        self.calls.append(("stacks.list", kwargs))
        if "tags" in kwargs:
            # Top-level stacks only (no show_nested), of every project for the admin.
            assert kwargs == {"tags": "magnum-lite"}
            return iter([self._summary(s) for s in self.stacks_by_id.values()
                         if "magnum-lite" in s["tags"] and not s["nested"]])
        assert kwargs == {"show_nested": True, "filters": {"status": "IN_PROGRESS"}}
        return iter([self._summary(s) for s in self.stacks_by_id.values()
                     if s["stack_status"].endswith("_IN_PROGRESS")])

    def _template(self, ref):
        self.calls.append(("stacks.template", ref))
        return self._lookup(ref)["template"]

    def _stack_get(self, ref, resolve_outputs=True):
        self.calls.append(("stacks.get", ref))
        stack = self._lookup(ref)
        outputs = [{"output_key": k, "output_value": v} for k, v in stack["outputs"].items()]
        return SimpleNamespace(id=stack["id"], stack_name=stack["stack_name"],
                               stack_status=stack["stack_status"],
                               creation_time=stack["creation_time"],
                               updated_time=stack["updated_time"],
                               parameters=stack["parameters"],
                               outputs=outputs if resolve_outputs else None)

    def _resources_list(self, ref, **kwargs):
        self.calls.append(("resources.list", ref))
        if kwargs.get("nested_depth"):
            # The servers under the stack, each a nested (simulated) stack.
            wanted = (kwargs.get("filters") or {}).get("type")
            return [SimpleNamespace(resource_name="server", resource_type=wanted,
                                    physical_resource_id=s["id"], parent_resource=str(i))
                    for i, s in enumerate(v for v in self.stacks_by_id.values()
                                          if v["nested"] and "user_data" in v["parameters"]
                                          and v["id"].startswith("srv-m"))]
        return [SimpleNamespace(resource_name=n, **r)
                for n, r in self._lookup(ref)["resources"].items()]

    def _resource_get(self, ref, name):
        self.calls.append(("resources.get", ref, name))
        stack = self._lookup(ref)
        res = stack["resources"][name]
        attributes = {}
        if res["resource_type"] == WAIT_HANDLE:
            endpoint = (f"http://127.0.0.1:8004/v1/p1/stacks/{stack['stack_name']}/"
                        f"{stack['id']}/resources/{name}/signal")
            attributes = {"endpoint": endpoint, "token": f"token-{name}",
                          "curl_cli": f"curl -i -X POST -H 'X-Auth-Token: token-{name}' "
                                      f"{endpoint}"}
        return SimpleNamespace(resource_name=name, attributes=attributes, **res)

    def _sd_list(self, **kwargs):
        # Heat lists every project's deployments to an admin, oldest first.
        self.calls.append(("software_deployments.list", kwargs))
        base = {"config_id": "c", "server_id": "srv", "input_values": {},
                "output_values": None, "status_reason": "", "action": "CREATE"}
        return [SimpleNamespace(id=i, **{**base, **d}) for i, d in self.deployments.items()]

    def _sd_get(self, deployment_id):
        self.calls.append(("software_deployments.get", deployment_id))
        return SimpleNamespace(id=deployment_id, **self.deployments[deployment_id])

    def _sd_update(self, deployment_id, **kwargs):
        self.calls.append(("software_deployments.update", deployment_id, kwargs))
        if deployment_id not in self.deployments:
            raise FakeHTTPNotFound(deployment_id)
        self.deployments[deployment_id].update(kwargs)


def res(rtype, status="CREATE_COMPLETE", physical=""):
    return {"resource_type": rtype, "resource_status": status, "physical_resource_id": physical}


MEMBER_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "resources": {
        "port": {"type": "OS::Neutron::Port", "properties": {"network": "private"}},
        "server": {"type": "OS::Nova::Server", "properties": {"flavor": "m1.small"}},
        "config": {"type": "OS::Heat::SoftwareConfig", "properties": {"config": "true"}},
        "deploy": {"type": "OS::Heat::SoftwareDeployment",
                   "properties": {"config": {"get_resource": "config"},
                                  "server": {"get_resource": "server"},
                                  "signal_transport": "HEAT_SIGNAL"}},
    },
}


CLUSTER_UUID = "0f6c2a9e-1d3b-4c5a-8e7f-9a0b1c2d3e4f"
NG_UUID = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
CLUSTER_STACK = f"demo-{CLUSTER_UUID}"
LIST_TAGGED = ("stacks.list", {"tags": "magnum-lite"})


def master_user_data(ca, encoding=None, kube_version="1.31.2", role="master", index=0):
    """Node user data in the driver's format: multipart MIME whose text/cloud-config part
    writes node.env and the cluster CA (a master's with its key; plain or base64 content),
    then the boot scripts."""
    files = [{"path": NODE_ENV_PATH, "permissions": "0644",
              "content": f"ROLE='{role}'\nNODE_INDEX='{index}'\nCLUSTER_UUID='{CLUSTER_UUID}'\n"
                         f"KUBE_VERSION='{kube_version}'\n"}]
    pems = ((CA_CERT_PATH, ca.certificate), (CA_KEY_PATH, ca.private_key))
    for path, pem in pems if role == "master" else pems[:1]:
        if encoding == "b64":
            files.append({"path": path, "permissions": "0600", "encoding": "b64",
                          "content": base64.b64encode(pem.encode()).decode()})
        else:
            files.append({"path": path, "permissions": "0600", "content": pem})
    cloud_config = "#cloud-config\n" + yaml.safe_dump({"write_files": files})
    return cloud_init.mime_message([("cloud-config.yaml", "cloud-config", cloud_config),
                                    ("10-prepare-node.sh", "x-shellscript", "#!/bin/sh\n")],
                                   userdata.MIME_BOUNDARY)


def add_cluster(heat, ca=None, *, masters=2, workers=2, lb_fip="127.88.1.2",
                master_fips=True, status="CREATE_COMPLETE", user_data=None, port="0",
                master_ids=True):
    """A cluster's stacks as the driver makes them: the tagged cluster stack (outputs are
    ResourceGroup maps), one nested stack per simulated master server holding its user
    data, and a tagged worker stack."""
    outputs = {
        "lb_vip": "10.0.0.5", "lb_floating_ip": lb_fip,
        "master_names": {str(i): f"demo-0f6c2a-master-{i}" for i in range(masters)},
        "master_private_addresses": {str(i): f"10.0.0.{10 + i}" for i in range(masters)},
        "master_floating_addresses": {str(i): f"127.88.2.{3 + i}" if master_fips else None
                                      for i in range(masters)},
    }
    if master_ids:
        outputs["master_ids"] = {str(i): f"srv-m{i}" for i in range(masters)}
    heat.add_stack("cs-1", CLUSTER_STACK, {}, {}, parameters={"api_port": port},
                   status=status, outputs=outputs, tags=["magnum-lite"])
    for i in range(masters):
        heat.add_stack(f"srv-m{i}", f"{CLUSTER_STACK}-masters-abc-{i}-server-xyz", {}, {},
                       parameters={"user_data": user_data or master_user_data(ca),
                                   **SERVER_PARAMETERS},
                       status="CREATE_COMPLETE", nested=True)
    if workers:
        add_workers(heat, 0, workers, ca=ca)


def add_workers(heat, chunk, count, status="CREATE_COMPLETE", ca=None, user_data=None):
    """A worker chunk stack and, with `ca` or `user_data`, its servers' nested stacks."""
    names = {str(i): f"demo-0f6c2a-default-worker-{chunk}-{i}" for i in range(count)}
    heat.add_stack(f"ws-{chunk}", f"{CLUSTER_STACK}-ng-{NG_UUID}-{chunk}", {}, {},
                   status=status, tags=["magnum-lite"], outputs={
                       "node_names": names,
                       "node_ids": {k: f"srv-w{chunk}-{k}" for k in names},
                       "node_private_addresses": {k: f"10.0.1.{10 + int(k)}" for k in names},
                       "node_floating_addresses": {k: None for k in names}})
    for k in names:
        if ca is not None or user_data is not None:
            heat.add_stack(f"srv-w{chunk}-{k}", f"{CLUSTER_STACK}-ng-{chunk}-{k}-server-xyz",
                           {}, {}, parameters={"user_data": user_data or master_user_data(
                               ca, role="worker", index=int(k)), **SERVER_PARAMETERS},
                           status="CREATE_COMPLETE", nested=True)


#: What the drivers' node template gives every server besides its user data
#: (templates/fragments/node.yaml): a rotation's new user data must not rebuild it.
SERVER_PARAMETERS = {"image": "ubuntu-22.04", "user_data_update_policy": "IGNORE"}


def set_user_data(heat, server_id, user_data, when="2026-11-21T18:20:00Z", image=None,
                  policy="REBUILD"):
    """A server's nested stack updated in place with new user data (and perhaps image), and
    the user_data_update_policy the update gives it (REBUILD: a rebuild with it)."""
    stack = heat.stacks_by_id[server_id]
    stack["parameters"] = {**stack["parameters"], "user_data": user_data,
                           "user_data_update_policy": policy,
                           **({"image": image} if image else {})}
    stack.update(stack_status="UPDATE_COMPLETE", updated_time=when)


def change(heat, sid, status, when="2026-11-21T18:10:00Z"):
    heat.stacks_by_id[sid].update(stack_status=status, updated_time=when)


class RecordingAPI:
    """Stands in for kube_api.ClusterAPI where the test is about what is decided, not served."""

    def __init__(self, view, ca, port):
        self.view, self.ca, self.port = view, ca, port
        self.hosts: tuple = ()
        self.certificate_names: tuple = ()
        self.closed = False
        self.reachable = True

    @property
    def addresses(self):
        return {h: self.port for h in self.hosts}

    def serve(self, hosts):
        self.hosts = tuple(hosts)
        return self.addresses

    def set_view(self, view):
        self.view = view

    def set_ca(self, ca):
        self.ca = ca

    def set_certificate_names(self, names):
        self.certificate_names = tuple(names)

    def tick(self):
        self.ticks = getattr(self, "ticks", 0) + 1

    def set_reachable(self, reachable):
        self.reachable = reachable

    def close(self):
        self.closed = True


def kube_client(api, host, tmp_path, ca_cert, client, name="c"):
    """The official client for the API served at `host`, trusting `ca_cert` (files in
    `tmp_path` named after `name`)."""
    conf = k8s.Configuration()
    conf.host = f"https://{host}:{api.addresses[host]}"
    conf.retries = 0
    for suffix, text in (("ca.crt", ca_cert), ("crt", client.certificate),
                         ("key", client.private_key)):
        (tmp_path / f"{name}.{suffix}").write_text(text)
    conf.ssl_ca_cert, conf.cert_file, conf.key_file = (
        str(tmp_path / f"{name}.{s}") for s in ("ca.crt", "crt", "key"))
    return k8s.CoreV1Api(k8s.ApiClient(conf))


def admin_pair(ca):
    """A cluster-admin client certificate issued by `ca`."""
    return x509.issue_certificate(ca, "admin", organizations=["system:masters"], server=False,
                                  client=True)


def rotation_credentials(ca):
    """A master's ``credentials`` deployment input that installs `ca` (JSON path: content)."""
    return json.dumps({CA_CERT_PATH: ca.certificate, CA_KEY_PATH: ca.private_key})

