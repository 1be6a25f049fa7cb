"""[DEFAULT] options owned by magnum_lite."""

import os
import socket

from oslo_config import cfg

_DEFAULT_STATE_PATH = os.path.join(os.path.expanduser("~"), ".local", "share", "magnum-lite")

opts = [
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="localhost",
        help="Name of this node: the host column of the service table and the RPC server name.",
    ),
    cfg.StrOpt(
        "state_path",
        default=_DEFAULT_STATE_PATH,
        sample_default="~/.local/share/magnum-lite",
        help="Directory for state kept on local disk, such as the embedded SQLite database.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(opts)


def list_opts() -> dict:
    return {"DEFAULT": opts}
