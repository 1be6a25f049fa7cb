"""Whether `[DEFAULT] transport_url` is set, without importing oslo.messaging.

The API server's gunicorn master refuses to start without a message bus, like every process
that meets the others over it (rpc.is_embedded), but it must stay the size of a bare gunicorn:
importing oslo.messaging to read its option would load its drivers and oslo.service's backend
(~25 MB) into a process that never sends a message. So the files (and environment) the
configuration was parsed from are read again for this one option, on a ConfigOpts of its own:
registering a copy of oslo.messaging's option on the global one would clash with the real one
when the workers register it.
"""

from __future__ import annotations

from oslo_config import cfg


def transport_url_configured(conf: cfg.ConfigOpts) -> bool:
    """True when the configuration `conf` was parsed from sets a non-empty transport_url."""
    probe = cfg.ConfigOpts()
    probe.register_opt(cfg.StrOpt("transport_url", secret=True))
    args: list[str] = []
    for path in conf.config_file or []:
        args += ["--config-file", path]
    config_dirs = conf.config_dir or []
    for path in [config_dirs] if isinstance(config_dirs, str) else config_dirs:
        args += ["--config-dir", path]
    probe(args=args, project=conf.project, default_config_files=[], default_config_dirs=[])
    try:
        return bool(probe.transport_url)
    finally:
        probe.clear()
