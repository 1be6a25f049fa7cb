"""Option listing for oslo-config-generator."""

from magnum_lite.conf import MODULES


def list_opts() -> list[tuple]:
    merged: dict = {}
    for module in MODULES:
        for group, opts in module.list_opts().items():
            key = getattr(group, "name", group)
            merged.setdefault(key, (group, []))[1].extend(opts)
    return [(group, opts) for group, opts in merged.values()]


def update_opt_defaults() -> None:
    """Defaults we set on library options, so the generated sample shows ours."""
    import oslo_messaging

    oslo_messaging.set_transport_defaults(control_exchange="magnum_lite")
