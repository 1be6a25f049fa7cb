#!/usr/bin/env bash
# Install the command-line tools some tests need and the venv cannot provide: Debian's
# cloud-init (`cloud-init schema` validates the cloud-config the k8s_ubuntu_v1 driver renders)
# and shellcheck (lints its boot scripts). Idempotent and quiet: does nothing when both
# commands exist. Runs apt-get directly as root, through sudo otherwise. Exit status: 0 when
# both commands are available afterwards, 1 otherwise.
set -u

say() { echo "install-tools: $*"; }

missing=()
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get not found; install ${missing[*]} by hand"
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    run_as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
    run_as_root() { sudo DEBIAN_FRONTEND=noninteractive "$@"; }
else
    say "not root and no sudo; install ${missing[*]} by hand"
    exit 1
fi

say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: cloud-init's recommendations (cloud-guest-utils, eatmydata,
# sudo...) are not needed to run `cloud-init schema`.
# apt-get's output is shown only when it fails.
output=$(mktemp)
trap 'rm -f "$output"' EXIT
if ! { run_as_root apt-get update -qq &&
       run_as_root apt-get install -qq -y --no-install-recommends "${missing[@]}"; } \
        >"$output" 2>&1; then
    cat "$output" >&2
    say "apt-get failed to install ${missing[*]}"
    exit 1
fi
for tool in cloud-init shellcheck; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool still missing"; exit 1; }
done
say "installed: $(cloud-init --version 2>&1 | tail -n1), shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
