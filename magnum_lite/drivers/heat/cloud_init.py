"""What every Heat-based plugin's cloud-init user data is made of.

The COE-agnostic pieces the plugins' userdata modules share: the field checks (raising
ValueError("<field>: <reason>")), the proxy and credential files of the cloud-config part, the
YAML and shell-file writers, the shell helpers every node gets (boot/common.sh), and the
multipart MIME message with Nova's size limit. Each plugin keeps its own configuration
dataclass, its COE-specific checks and its boot scripts.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
import email.generator
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
import io
import ipaddress
import pathlib
import re
from typing import Any

import yaml

#: Heat's per-node template replaces this with the node's index in its group.
NODE_INDEX_PLACEHOLDER = "__NODE_INDEX__"
#: Nova refuses user data whose base64 encoding is longer than this (so ≈ 48 KiB of text).
MAX_USER_DATA_BYTES = 65535
MAX_PROXY_LENGTH = 2048
#: The shell helpers the plugins' scripts source, and where cloud-init installs them.
COMMON_SH = pathlib.Path(__file__).resolve().parent / "boot" / "common.sh"
COMMON_SH_PATH = "/usr/local/lib/magnum-lite/common.sh"

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CLUSTER_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,241}")  # the API's cluster name rule
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_NAME_RE = re.compile(rf"{DNS_LABEL}(\.{DNS_LABEL})*")
# URL characters that need no quoting in a shell single-quoted string, a systemd Environment=
# value (after doubling %) or YAML: no quotes, backslash, $, backtick, spaces or controls.
PROXY_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+")
NO_PROXY_ENTRY_RE = re.compile(r"[A-Za-z0-9._*:/\[\]-]+")
CREDENTIAL_PATH_RE = re.compile(r"[A-Za-z0-9_./-]+")


# --------------------------------------------------------------------------- validation

def fail(name: str, reason: str) -> ValueError:
    """The error naming the configuration field at fault."""
    return ValueError(f"{name}: {reason}")


def check_str(name: str, value: Any) -> str:
    """value, if it is a string free of Heat's placeholder."""
    if not isinstance(value, str):
        raise fail(name, f"must be a string, not {type(value).__name__}")
    if NODE_INDEX_PLACEHOLDER in value:
        raise fail(name, f"must not contain {NODE_INDEX_PLACEHOLDER}, which Heat replaces")
    return value


def check_int(name: str, value: Any, minimum: int) -> int:
    """value, if it is an integer (not a bool) of at least minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(name, f"must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise fail(name, f"must be at least {minimum}, got {value}")
    return value


def is_host(value: str) -> bool:
    """An IP address or a DNS name (what a certificate SAN or an endpoint host can be)."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return len(value) <= 253 and DNS_NAME_RE.fullmatch(value) is not None


def check_host(name: str, value: Any) -> str:
    """value, if it is an IP address or a DNS name."""
    if not is_host(check_str(name, value)):
        raise fail(name, f"{value!r} is neither an IP address nor a DNS name")
    return value


def check_cluster(role: Any, roles: tuple[str, ...], cluster_uuid: Any,
                  cluster_name: Any) -> None:
    """The node role and the cluster's UUID and name."""
    if role not in roles:
        raise fail("role", f"must be one of {roles}, got {role!r}")
    if not UUID_RE.fullmatch(check_str("cluster_uuid", cluster_uuid)):
        raise fail("cluster_uuid", f"{cluster_uuid!r} is not a lowercase UUID")
    if not CLUSTER_NAME_RE.fullmatch(check_str("cluster_name", cluster_name)):
        raise fail("cluster_name", "must start with a letter and hold at most 242 letters, "
                                   "digits, '_', '.' or '-'")


def check_proxies(http_proxy: Any, https_proxy: Any, no_proxy: Any) -> None:
    """http_proxy and https_proxy URLs and no_proxy entries, safe in every file they reach."""
    for name, value in (("http_proxy", http_proxy), ("https_proxy", https_proxy)):
        value = check_str(name, value)
        if value and (len(value) > MAX_PROXY_LENGTH or not PROXY_RE.fullmatch(value)):
            raise fail(name, f"must be an http:// or https:// URL of at most "
                             f"{MAX_PROXY_LENGTH} characters without quotes, spaces, '$', "
                             "'\\' or control characters")
    no_proxy = check_str("no_proxy", no_proxy)
    if len(no_proxy) > MAX_PROXY_LENGTH:
        raise fail("no_proxy", f"is longer than {MAX_PROXY_LENGTH} characters")
    for entry in filter(None, (e.strip() for e in no_proxy.split(","))):
        if not NO_PROXY_ENTRY_RE.fullmatch(entry):
            raise fail("no_proxy", f"{entry!r} is not a host name, address, CIDR or domain")


def check_credential_files(files: Mapping[str, Any], allowed_dirs: tuple[str, ...]) -> None:
    """Credential files: string contents at plain paths under one of allowed_dirs."""
    for path, content in files.items():
        check_str("credential_files", content)
        if (not check_str("credential_files", path).startswith(allowed_dirs)
                or ".." in path or not CREDENTIAL_PATH_RE.fullmatch(path)):
            raise fail("credential_files", f"{path!r} is not a file under "
                                           f"{' or '.join(allowed_dirs)}")


# --------------------------------------------------------------------------- rendering

class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the files read as they will be written."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(data: Any) -> str:
    """YAML with literal multi-line strings and no folded lines."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=10000, allow_unicode=False)


def shell_env(values: Mapping[str, Any], export: bool = False) -> str:
    """A file the scripts source; values are validated free of single quotes."""
    prefix = "export " if export else ""
    lines = []
    for key, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if "'" in text or "\n" in text:  # the plugins' validate_config rule these out
            raise ValueError(f"{key}: cannot be written to a shell file")
        lines.append(f"{prefix}{key}='{text}'")
    return "\n".join(lines) + "\n"


def node_env_file(config_dir: str, values: Mapping[str, Any]) -> dict[str, str]:
    """The write_files entry of node.env, the values every boot script sources (no secret)."""
    return {"path": f"{config_dir}/node.env", "permissions": "0644",
            "content": shell_env(values)}


def apt_proxies(http_proxy: str, https_proxy: str) -> dict[str, str]:
    """cloud-init's apt proxy settings, for the proxies that are set."""
    return {k: v for k, v in (("http_proxy", http_proxy), ("https_proxy", https_proxy)) if v}


def no_proxy_with(no_proxy: str, extras: Iterable[str]) -> str:
    """The user's no_proxy plus extras (what must never go through a proxy), deduplicated."""
    entries = [e.strip() for e in no_proxy.split(",") if e.strip()]
    for extra in extras:
        if extra not in entries:
            entries.append(extra)
    return ",".join(entries)


def proxy_files(config_dir: str, service: str, http_proxy: str, https_proxy: str,
                no_proxy: str) -> list[dict[str, str]]:
    """write_files entries giving the proxies to the scripts and to the container runtime.

    Empty when neither proxy is set. `service` is the systemd unit pulling images
    ("containerd", "docker"); no_proxy is the complete list (see no_proxy_with).
    """
    if not (http_proxy or https_proxy):
        return []
    proxies = {"HTTP_PROXY": http_proxy, "HTTPS_PROXY": https_proxy, "NO_PROXY": no_proxy}
    proxies = {k: v for k, v in proxies.items() if v}
    both_cases = {**proxies, **{k.lower(): v for k, v in proxies.items()}}
    # systemd expands % specifiers, hence %%.
    environment = " ".join(f'"{k}={v.replace("%", "%%")}"' for k, v in proxies.items())
    # Proxy URLs may carry credentials: root only.
    return [{"path": f"{config_dir}/proxy.env", "permissions": "0600",
             "content": shell_env(both_cases, export=True)},
            {"path": f"/etc/systemd/system/{service}.service.d/http-proxy.conf",
             "permissions": "0600",
             "content": f"[Service]\nEnvironment={environment}\n"}]


def credential_files(files: Mapping[str, str]) -> list[dict[str, str]]:
    """write_files entries, by path: certificates (.crt) public, anything else root only."""
    return [{"path": path, "permissions": "0644" if path.endswith(".crt") else "0600",
             "content": content} for path, content in sorted(files.items())]


def common_sh_file() -> dict[str, str]:
    """The write_files entry of boot/common.sh: written before any boot script runs, and kept
    for the rotation scripts Heat runs later (code, no secret: world-readable)."""
    return {"path": COMMON_SH_PATH, "permissions": "0644", "content": COMMON_SH.read_text()}


#: The line by which a boot script sources common.sh (tests point MAGNUM_LITE_LIB elsewhere).
SOURCE_COMMON_SH = '. "${MAGNUM_LITE_LIB:-/usr/local/lib/magnum-lite}/common.sh"'


def self_contained(script: str) -> str:
    """`script` with common.sh in place of the line that sources it: for the rotation scripts
    Heat runs on nodes booted before common.sh existed, or whose copy is older."""
    if SOURCE_COMMON_SH not in script:
        raise ValueError("the script does not source common.sh")
    return script.replace(SOURCE_COMMON_SH, COMMON_SH.read_text().rstrip("\n"), 1)


def cloud_config(data: dict[str, Any], files: list[dict[str, str]], plugin: str, role: str,
                 cluster_name: str, cluster_uuid: str) -> str:
    """The cloud-config part: data with common.sh and files added to its write_files, under a
    header."""
    data = {**data, "write_files": data["write_files"] + [common_sh_file()] + files}
    header = (f"#cloud-config\n# magnum-lite {plugin}: {role} of cluster "
              f"{cluster_name} ({cluster_uuid})\n")
    return header + dump(data)


def boot_parts(cloud_config_text: str, boot_dir: pathlib.Path,
               script: str) -> list[tuple[str, str, str]]:
    """The parts of every node: cloud-config, then boot/prepare-node.sh, then the role's script."""
    return [
        ("cloud-config.yaml", "cloud-config", cloud_config_text),
        ("10-prepare-node.sh", "x-shellscript", (boot_dir / "prepare-node.sh").read_text()),
        (f"20-{script}", "x-shellscript", (boot_dir / script).read_text()),
    ]


def mime_message(parts: Iterable[tuple[str, str, str]], boundary: str) -> str:
    """Multipart MIME of (file name, text/ subtype, text) parts, in order.

    7-bit text parts (not base64), so Heat's placeholder substitution sees the placeholder;
    a fixed boundary, so re-rendering an unchanged cluster changes no Heat parameter.
    """
    message = MIMEMultipart(boundary=boundary)
    for filename, subtype, text in parts:
        part = MIMEText(text, subtype, "us-ascii")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        message.attach(part)
    out = io.StringIO()
    email.generator.Generator(out, mangle_from_=False, maxheaderlen=0).flatten(message)
    return out.getvalue()


def encoded_size(user_data: str) -> int:
    """The length of user_data base64-encoded, as Nova measures it."""
    return len(base64.b64encode(user_data.encode()))


def largest_input(sizes: Mapping[str, int]) -> tuple[str, int]:
    """(name, size) of the largest variable input (the first one on a tie)."""
    name = max(sizes, key=lambda n: sizes[n])
    return name, sizes[name]


def proxy_sizes(http_proxy: str, https_proxy: str, no_proxy: str) -> dict[str, int]:
    """The proxy settings' sizes, variable inputs of every plugin's user data."""
    return {"no_proxy": len(no_proxy), "http_proxy": len(http_proxy),
            "https_proxy": len(https_proxy)}


def check_size(user_data: str, sizes: Mapping[str, int]) -> None:
    """Refuse user data over Nova's limit, naming the largest of the variable inputs sizes."""
    encoded = encoded_size(user_data)
    if encoded > MAX_USER_DATA_BYTES:
        name, input_size = largest_input(sizes)
        raise fail(name, f"the user data would be {len(user_data.encode())} bytes ({encoded} "
                         f"base64-encoded), over Nova's limit of {MAX_USER_DATA_BYTES} "
                         f"base64-encoded bytes; {name} is its largest variable input "
                         f"({input_size} bytes)")


def node_user_data(cloud_config_text: str, boot_dir: pathlib.Path, script: str, boundary: str,
                   sizes: Mapping[str, int]) -> str:
    """A node role's user data: the cloud-config, boot/prepare-node.sh and boot/<script> as a
    MIME message (see mime_message), refused over Nova's limit (see check_size)."""
    user_data = mime_message(boot_parts(cloud_config_text, boot_dir, script), boundary)
    # __NODE_INDEX__ is longer than any index: Heat's substitution never makes it larger.
    check_size(user_data, sizes)
    return user_data
