"""magnum_lite: Containers-as-a-Service for OpenStack, wire-compatible with Magnum's v1 API.

oslo.service picks its eventlet backend the first time anything asks it for its backend
(oslo.messaging's import of oslo_service.service does), unless told otherwise: importing
magnum_lite tells it "threading" before any such import. It registers the choice without
loading the backend (which imports eventlet and cotyledon, ~28 MB): a process that never uses
oslo.service (the API server's master) stays small; the entry points load it explicitly.
"""

import warnings

# eventlet comes in as oslo.service's dependency and is imported (never used) by futurist.
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")

from oslo_service import backend as _oslo_service_backend  # noqa: E402

_oslo_service_backend.register_backend_default_hook(
    lambda: _oslo_service_backend.BackendType.THREADING)
