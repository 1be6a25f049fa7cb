"""magnum_lite: Containers-as-a-Service for OpenStack, wire-compatible with Magnum's v1 API.

oslo.service picks its eventlet backend the first time anything imports oslo_service.service
(oslo.messaging does), so the threading backend is selected here, before any such import.
"""

import warnings

# eventlet comes in as oslo.service's dependency and is imported (never used) by futurist.
warnings.filterwarnings("ignore", message="\nEventlet is deprecated")

from oslo_service import backend as _oslo_service_backend  # noqa: E402

_oslo_service_backend.init_backend(_oslo_service_backend.BackendType.THREADING)
