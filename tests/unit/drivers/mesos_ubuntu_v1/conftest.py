"""The fake Heat, a context and the cluster builders of the shared Heat driver's tests."""

from tests.unit.drivers.heat.conftest import context, heat  # noqa: F401 - fixtures
