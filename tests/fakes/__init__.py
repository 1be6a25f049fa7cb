"""Faithful in-memory fakes of the services magnum-lite calls, for unit tests and benchmarks."""
