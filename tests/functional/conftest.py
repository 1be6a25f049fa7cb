"""Service detection for the functional tests: which local services are there to test against.

Tests that need a service are marked `@pytest.mark.service` and call `require_service(name)`
(or use the fixture of the same name), which skips with a reason naming the missing service.
Under CI=true the top-level conftest turns such a skip into a failure.
"""

import socket

import pytest

# name -> (host, port, what to do about it)
SERVICES = {
    "postgresql": ("127.0.0.1", 5432, "start PostgreSQL, then run tools/test-setup.sh"),
    "mariadb": ("127.0.0.1", 3306, "start MariaDB, then run tools/test-setup.sh"),
    "rabbitmq": ("127.0.0.1", 5672, "start RabbitMQ (rabbitmq-server -detached)"),
    "redis": ("127.0.0.1", 6379, "start Redis (redis-server --daemonize yes)"),
}


def service_reachable(name: str, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on the service's port."""
    host, port, _hint = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Skip the calling test, naming the service, when it is not reachable."""
    if not service_reachable(name):
        host, port, hint = SERVICES[name]
        pytest.skip(f"{name} is not reachable at {host}:{port} ({hint})")


@pytest.fixture
def postgresql() -> None:
    require_service("postgresql")


@pytest.fixture
def mariadb() -> None:
    require_service("mariadb")


@pytest.fixture
def rabbitmq() -> None:
    require_service("rabbitmq")


@pytest.fixture
def redis() -> None:
    require_service("redis")


def pytest_report_header(config: pytest.Config) -> str:
    states = ", ".join(f"{name} {'up' if service_reachable(name) else 'DOWN'}"
                       for name in SERVICES)
    return f"local services: {states}"
