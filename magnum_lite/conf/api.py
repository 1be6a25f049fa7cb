"""[api] options: the REST API server and its authentication mode."""

from oslo_config import cfg

group = cfg.OptGroup("api", title="REST API server options")

opts = [
    cfg.HostAddressOpt("host", default="127.0.0.1", help="Address the API server listens on."),
    cfg.PortOpt("port", default=9511, help="Port the API server listens on (Magnum's is 9511)."),
    cfg.IntOpt(
        "workers",
        default=2,
        min=1,
        help="Worker processes of magnum-lite-api. Each also runs several threads.",
    ),
    cfg.IntOpt("threads", default=4, min=1, help="Threads per API worker process."),
    cfg.IntOpt(
        "keepalive_timeout",
        default=75,
        min=1,
        help="Seconds an idle kept-alive client connection stays open, in magnum-lite-api "
             "(gunicorn) and magnum-lite-all (cheroot). A client reusing a pooled connection "
             "just as the server closes it gets \"Remote end closed connection without "
             "response\", so this must be longer than the idle gaps of clients that poll "
             "(a status poll every few seconds) and than the idle timeout of a proxy in "
             "front that keeps connections to the API open (haproxy, nginx's upstream "
             "keepalive: typically 60 s). 75 is nginx's default for its clients; gunicorn's "
             "own default of 2 s drops polling clients.",
    ),
    cfg.StrOpt(
        "auth_strategy",
        default="keystone",
        choices=[
            ("keystone", "Keystone tokens through keystonemiddleware's auth_token."),
            ("noauth", "No authentication: identity from X-* headers or the noauth defaults. "
                       "For development only."),
        ],
        help="How API requests are authenticated.",
    ),
    cfg.StrOpt("api_paste_config", default="api-paste.ini",
               help="Paste deployment file of the API pipeline, searched next to the config "
                    "files and in the package's etc/magnum-lite when relative."),
    cfg.IntOpt("max_limit", default=1000, min=1,
               help="The largest number of items a list request returns in one page."),
    cfg.StrOpt("noauth_project_id", default="00000000000000000000000000000001",
               help="noauth mode: project of requests that carry no X-Project-Id."),
    cfg.StrOpt("noauth_user_id", default="00000000000000000000000000000002",
               help="noauth mode: user of requests that carry no X-User-Id."),
    cfg.ListOpt("noauth_roles", default=["admin", "member", "reader"],
                help="noauth mode: roles of requests that carry no X-Roles."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(group)
    conf.register_opts(opts, group=group)


def list_opts() -> dict:
    return {group: opts}
