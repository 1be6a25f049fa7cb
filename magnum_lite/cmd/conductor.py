"""magnum-lite-conductor: serves the conductor RPC API and heartbeats to the service table.

    magnum-lite-conductor [--config-file FILE ...]

Stops on SIGTERM or SIGINT within `[conductor] graceful_shutdown_timeout` plus a second,
with exit code 0. Exit code 1: it could not start or a part of it died; 2: not configured.
"""

import magnum_lite  # noqa: F401, I001  (selects oslo.service's threading backend first)

import sys

BINARY = "magnum-lite-conductor"


def run() -> int:
    """Run the conductor until a signal stops it; the configuration is already parsed."""
    from magnum_lite.common import service
    from magnum_lite.conductor import service as conductor_service

    service.log_process_report(BINARY)
    runner = service.ServiceRunner([conductor_service.ConductorService()])
    code, clean = runner.run()
    return service.exit_process(code, clean)


def main(argv: list[str] | None = None) -> int:
    from oslo_service import backend

    backend.init_backend(backend.BackendType.THREADING)

    from magnum_lite.common import service

    return service.main_over_message_bus(BINARY, argv, run)


if __name__ == "__main__":
    sys.exit(main())
