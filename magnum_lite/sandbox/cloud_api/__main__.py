"""`python -m magnum_lite.sandbox.cloud_api`: see magnum_lite.sandbox.cloud_api.server."""

import sys

from magnum_lite.sandbox.cloud_api import server

sys.exit(server.main())
