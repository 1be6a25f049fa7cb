"""Sandbox Heat plugin: the engine keeps [database] max_overflow as configured.

At start ``EngineService._configure_db_conn_pool_size`` raises max_overflow to
``executor_thread_pool_size`` (64 by default), so each engine worker may open 70
connections. The sandbox's two workers share the machine's PostgreSQL (100 connections by
default) with heat-api, Keystone, magnum-lite and the tests, and a 50-node stack's delete
used them all ("remaining connection slots are reserved"). Lowering the thread pool
instead starves convergence (a nested stack's check holds a thread while its children
run). With the configured cap a thread waits for a free connection (pool_timeout).
"""

from heat.engine import service as _service


def _keep_configured_overflow(self):
    """The configured [database] max_overflow stands."""


_service.EngineService._configure_db_conn_pool_size = _keep_configured_overflow
