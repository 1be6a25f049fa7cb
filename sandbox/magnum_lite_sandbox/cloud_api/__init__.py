"""A stand-in for the cloud APIs magnum-lite itself calls: Glance, Nova, Neutron and Octavia.

The sandbox has real Keystone and Heat but no compute cloud. magnum-lite still asks the cloud
whether an image, flavor, keypair or network exists, and cleans up load balancers and ports on
cluster delete; this process answers those calls with the real APIs' shapes (bodies, status
codes, error documents, pagination, request ids) from a small in-memory, seeded catalog.

One process serves four small WSGI apps on 127.0.0.1 (the contract in `magnum_lite_sandbox`):
image (Glance v2) :9292, compute (Nova v2.1) :8774/v2.1, network (Neutron v2.0) :9696 and
load-balancer (Octavia v2) :9876, or the URLs in sandbox.json's `cloud_api`. Requests are
authenticated by keystonemiddleware against the sandbox Keystone; objects belong to the token's
project, and a project sees only its own private objects, as in the real services.

Modules: `base` (identity, routing, errors, paging), `store` (the seeded state), one module per
service, and `server` (auth, cheroot, the command line).
"""

