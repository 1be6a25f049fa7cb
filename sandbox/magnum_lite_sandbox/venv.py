"""The sandbox's own venv (Keystone, Heat, their clients, gunicorn), apart from the project's.

Keystone and Heat pin many libraries differently from magnum-lite, so they live in
`<state>/venv`, installed from requirements.txt under constraints.txt (a pip freeze of a
working install). The venv is (re)built only when missing or when those files or the Python
changed: a stamp file holds the digest of what it was built from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import shutil
import subprocess
import sys

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
CONSTRAINTS = HERE / "constraints.txt"
STAMP = ".magnum-lite-sandbox-stamp"


def venv_dir(state_dir: Path) -> Path:
    return state_dir / "venv"


def bin_dir(state_dir: Path) -> Path:
    return venv_dir(state_dir) / "bin"


def digest(requirements: str, constraints: str, python: str) -> str:
    """What a venv was built from: the pins and the interpreter's version."""
    h = hashlib.sha256()
    for part in (requirements, constraints, python):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def wanted_digest() -> str:
    constraints = CONSTRAINTS.read_text() if CONSTRAINTS.exists() else ""
    return digest(REQUIREMENTS.read_text(), constraints, sys.version.split()[0])


def needs_build(state_dir: Path, wanted: str) -> bool:
    """True when the venv is missing, broken, or was built from other pins."""
    stamp = venv_dir(state_dir) / STAMP
    python = bin_dir(state_dir) / "python"
    if not python.exists() or not stamp.exists():
        return True
    return stamp.read_text().strip() != wanted


def ensure(state_dir: Path, log: Path) -> bool:
    """Build the venv when needed; True when it was (re)built. Output goes to `log`."""
    wanted = wanted_digest()
    if not needs_build(state_dir, wanted):
        return False
    target = venv_dir(state_dir)
    if target.exists():
        shutil.rmtree(target)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        def run(*argv: str) -> None:
            subprocess.run(list(argv), check=True, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                           stdin=subprocess.DEVNULL)

        run(sys.executable, "-m", "venv", str(target))
        # --no-compile: byte-compiling all of the ~400 MB at install time costs ~20 s of the
        # ~50 s; Python compiles only what is imported, on first use.
        pip = [str(bin_dir(state_dir) / "python"), "-m", "pip", "install",
               "--disable-pip-version-check", "-q", "--no-compile"]
        args = ["-r", str(REQUIREMENTS)]
        if CONSTRAINTS.exists():
            args += ["-c", str(CONSTRAINTS)]
        try:
            run(*pip, *args)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"pip install into {target} failed; see {log}") from exc
    (target / STAMP).write_text(wanted + "\n")
    return True


def freeze(state_dir: Path) -> str:
    """`pip freeze` of the sandbox venv: how constraints.txt is regenerated."""
    return subprocess.run(  # noqa: S603
        [str(bin_dir(state_dir) / "python"), "-m", "pip", "freeze", "--exclude-editable"],
        check=True, capture_output=True, text=True).stdout
