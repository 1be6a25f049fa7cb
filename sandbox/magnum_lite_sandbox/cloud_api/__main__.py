"""`python -m magnum_lite_sandbox.cloud_api`: see magnum_lite_sandbox.cloud_api.server."""

import sys

from magnum_lite_sandbox.cloud_api import server

sys.exit(server.main())
