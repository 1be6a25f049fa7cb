"""The Heat driver tests' fixtures (the fake Heat, a context), shared with this plugin's."""

from tests.unit.drivers.heat.conftest import context, heat

__all__ = ["context", "heat"]
