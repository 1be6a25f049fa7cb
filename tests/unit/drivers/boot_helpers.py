"""What the Heat-based plugins' boot tests share: reading rendered user data as cloud-init
does, checking it with `cloud-init schema` and shellcheck, and running the boot and rotation
scripts against stub commands and scratch directories.

The scripts source the shared heat/boot/common.sh, which cloud-init installs on every node;
here MAGNUM_LITE_LIB points them at the repository's copy.
"""

from __future__ import annotations

import base64
import email
import json
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest
import yaml

from magnum_lite.drivers.heat.cloud_init import (
    COMMON_SH,
    COMMON_SH_PATH,
    MAX_USER_DATA_BYTES,
    NODE_INDEX_PLACEHOLDER,
    self_contained,
)

#: What every script sees instead of the installed /usr/local/lib/magnum-lite.
LIB_ENV = {"MAGNUM_LITE_LIB": str(COMMON_SH.parent)}


# ------------------------------------------------------------------ reading the user data

def boot(user_data: str, index: int | str) -> str:
    """What Heat hands to Nova for the node with this index."""
    return user_data.replace(NODE_INDEX_PLACEHOLDER, str(index))


def split(user_data: str) -> list[tuple[str, str, str]]:
    """(content type, file name, text) of each part, as cloud-init reads them."""
    message = email.message_from_string(user_data)
    assert message.is_multipart()
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        assert part["Content-Transfer-Encoding"] == "7bit"
        parts.append((part.get_content_type(), part.get_filename(),
                      part.get_payload(decode=True).decode("ascii")))
    return parts


def cloud_config(user_data: str) -> dict:
    [text] = [t for ctype, _, t in split(user_data) if ctype == "text/cloud-config"]
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def files(user_data: str) -> dict[str, dict]:
    return {f["path"]: f for f in cloud_config(user_data)["write_files"]}


def scripts(user_data: str) -> dict[str, str]:
    return {name: text for ctype, name, text in split(user_data)
            if ctype == "text/x-shellscript"}


def need(command: str) -> str:
    path = shutil.which(command)
    if path is None:
        pytest.skip(f"the {command} command is missing: run tools/install-tools.sh")
    return path


def check_layout_and_size(user_data: str, again: str) -> None:
    """user_data rendered again is the same (no Heat churn), is a multipart message of a
    cloud-config and two scripts with one NODE_INDEX placeholder, and every node's text
    (its index in node.env) stays within Nova's limit."""
    assert user_data == again  # deterministic: no Heat churn
    assert "mime-version:" in user_data[:4096].lower()  # how cloud-init recognises multipart
    assert user_data.count(NODE_INDEX_PLACEHOLDER) == 1
    for index in (0, 1, 999):
        node = boot(user_data, index)
        assert NODE_INDEX_PLACEHOLDER not in node
        assert f"NODE_INDEX='{index}'" in files(node)["/etc/magnum-lite/node.env"]["content"]
        assert len(node.encode()) <= MAX_USER_DATA_BYTES
        assert len(base64.b64encode(node.encode())) <= MAX_USER_DATA_BYTES  # Nova's check
    assert [c for c, _, _ in split(user_data)] == [
        "text/cloud-config", "text/x-shellscript", "text/x-shellscript"]


def check_boot_files(boot_dir: pathlib.Path, names: list[str]) -> None:
    """boot_dir holds exactly names, and they and common.sh are ASCII (7-bit MIME parts)."""
    assert sorted(p.name for p in boot_dir.iterdir()) == sorted(names)
    for path in [*(boot_dir / name for name in names), COMMON_SH]:
        path.read_bytes().decode("ascii")


# ------------------------------------------------------------------ schema and shellcheck

def check_cloud_init_schema(user_data: str, tmp_path: pathlib.Path) -> None:
    """The node's one cloud-config part passes `cloud-init schema` with no deprecation."""
    cloud_init = need("cloud-init")
    parts = [t for c, _, t in split(user_data) if c == "text/cloud-config"]
    assert len(parts) == 1
    path = tmp_path / "cloud-config.yaml"
    path.write_text(parts[0])
    done = subprocess.run([cloud_init, "schema", "--config-file", str(path)],
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"Valid cloud-config: {path}" in done.stdout
    assert "deprecat" not in output.lower()


def shellcheck(path: pathlib.Path) -> None:
    """shellcheck finds nothing in path nor in what it sources (its directives' paths are
    relative to its directory, as in the repository)."""
    done = subprocess.run([need("shellcheck"), "--external-sources", "--check-sourced",
                           "--source-path=SCRIPTDIR", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def check_scripts_with_shellcheck(user_data: str, tmp_path: pathlib.Path,
                                  expected: list[str]) -> None:
    """The node's script parts are `expected` and pass shellcheck, with the common.sh its
    cloud-config installs (the repository's, world-readable) laid out where the scripts'
    source directive finds it."""
    found = scripts(user_data)
    assert sorted(found) == sorted(expected)
    assert files(user_data)[COMMON_SH_PATH] == {
        "path": COMMON_SH_PATH, "permissions": "0644", "content": COMMON_SH.read_text()}
    shared = tmp_path / "heat" / "boot" / "common.sh"  # ../../heat/boot/common.sh
    shared.parent.mkdir(parents=True)
    shared.write_text(files(user_data)[COMMON_SH_PATH]["content"])
    shellcheck(shared)
    plugin = tmp_path / "plugin" / "boot"
    plugin.mkdir(parents=True)
    for name, text in found.items():
        (plugin / name).write_text(text)
        shellcheck(plugin / name)


# ------------------------------------------------------------------ the scripts, run

def install_stubs(stubs: pathlib.Path, stub: str, commands: tuple[str, ...]) -> None:
    """stub as each of commands in stubs (which goes first on PATH)."""
    stubs.mkdir(parents=True, exist_ok=True)
    for command in commands:
        (stubs / command).write_text(stub)
        (stubs / command).chmod(0o755)


def stub_calls(stubs: pathlib.Path) -> list[str]:
    """The calls the stubs logged to stubs/calls, in order."""
    calls_file = stubs / "calls"
    return calls_file.read_text().splitlines() if calls_file.exists() else []


def run_node_script(tmp_path: pathlib.Path, user_data: str, index: int | str, *, stub: str,
                    commands: tuple[str, ...], roots: dict[str, str] | None = None,
                    extra_dirs: tuple[str, ...] = (), prepared: bool = True,
                    script: str | None = None, **env: str
                    ) -> tuple[subprocess.CompletedProcess, list[str], dict[str, pathlib.Path]]:
    """Run the node's 20- script (or `script`) with its rendered files and stub commands.

    The files under /etc/magnum-lite/ go to tmp_path/etc, those under each other prefix of
    roots to tmp_path/<roots[prefix]>; extra_dirs are made empty; tmp_path/state holds the
    "prepared" mark when prepared. Returns the run, the stubs' calls and the scratch
    directories by name.
    """
    node = boot(user_data, index)
    roots = {"/etc/magnum-lite/": "etc", **(roots or {})}
    dirs = {n: tmp_path / n for n in ("etc", "state", "stubs", *roots.values(), *extra_dirs)}
    for directory in dirs.values():
        directory.mkdir(exist_ok=True)
    for path, entry in files(node).items():
        for prefix, name in roots.items():
            if path.startswith(prefix):
                out = dirs[name] / path[len(prefix):]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(entry["content"])
    if prepared:
        (dirs["state"] / "prepared").touch()
    install_stubs(dirs["stubs"], stub, commands)
    [(name, text)] = [(n, t) for n, t in scripts(node).items()
                      if n == (script or n) and (script or n.startswith("20-"))]
    (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["bash", str(tmp_path / name)], capture_output=True, text=True, timeout=60,
        env={"PATH": f"{dirs['stubs']}:{os.environ['PATH']}", "STUBS": str(dirs["stubs"]),
             "MAGNUM_LITE_ETC": str(dirs["etc"]), "MAGNUM_LITE_STATE": str(dirs["state"]),
             **LIB_ENV, **env})
    return done, stub_calls(dirs["stubs"]), dirs


def run_rotation(script: pathlib.Path, root: pathlib.Path,
                 credentials: dict[str, str] | None = None,
                 **env: str) -> subprocess.CompletedProcess:
    """Run an apply-credentials.sh against the scratch root as Heat's script hook would: the
    self-contained text the driver sends (no common.sh on the node needed), with the
    deployment's inputs (credentials as JSON, a cluster_uuid) in the environment, or none
    when credentials is None."""
    environ = {"PATH": os.environ["PATH"], "MAGNUM_LITE_ROOT": str(root)}
    if credentials is not None:
        environ.update(credentials=json.dumps(credentials), cluster_uuid="c-1")
    with tempfile.TemporaryDirectory() as scratch:
        sent = pathlib.Path(scratch) / script.name
        sent.write_text(self_contained(script.read_text()))
        return subprocess.run(["bash", str(sent)], env={**environ, **env},
                              capture_output=True, text=True, check=False, timeout=60)


def check_written(root: pathlib.Path, credentials: dict[str, str]) -> None:
    """Each of credentials is under root with its content: certificates 0644, the rest 0600."""
    for path, content in credentials.items():
        target = root / path.lstrip("/")
        assert target.read_text() == content
        mode = stat.S_IMODE(target.stat().st_mode)
        assert mode == (0o644 if path.endswith(".crt") else 0o600), path
