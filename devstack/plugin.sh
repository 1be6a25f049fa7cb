#!/usr/bin/env bash
# devstack plugin for magnum-lite: a placeholder until the devstack issue lands.
# It installs the package so `enable_plugin magnum-lite <repo>` does not break a stack.

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing magnum-lite"
    setup_develop "$DEST/magnum-lite"
fi
