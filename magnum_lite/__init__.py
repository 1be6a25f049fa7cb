"""magnum_lite: Containers-as-a-Service for OpenStack, wire-compatible with Magnum's v1 API.

oslo.service picks its eventlet backend the first time anything imports oslo_service.service
(oslo.messaging does), so the threading backend is selected here, before any such import.
"""

from oslo_service import backend as _oslo_service_backend

_oslo_service_backend.init_backend(_oslo_service_backend.BackendType.THREADING)
