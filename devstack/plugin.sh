#!/bin/bash
# devstack plugin for magnum-lite: `enable_plugin magnum-lite <repository>` in local.conf
# (after `enable_plugin heat ...`). See devstack/settings for the variables and
# tools/devstack-check.sh for a run of devstack's stack.sh with it.
#
# Phases:
#   stack install      the package and python-magnumclient
#   stack post-config  magnum-lite.conf, the Keystone accounts, the database, the services
#   stack extra        one public cluster template per COE
#   unstack            stop the services
#   clean              remove the configuration and the state

_XTRACE_MAGNUM_LITE_PLUGIN=$(set +o | grep xtrace)
set -o xtrace

# shellcheck source=lib/magnum-lite
source "$(dirname "${BASH_SOURCE[0]}")/lib/magnum-lite"

if is_service_enabled magnum-lite-api magnum-lite-conductor; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing magnum-lite"
        install_magnum_lite
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring magnum-lite"
        configure_magnum_lite
        create_magnum_lite_accounts
        echo_summary "Initializing the magnum-lite database"
        init_magnum_lite
        echo_summary "Starting magnum-lite"
        start_magnum_lite
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        if [[ "$MAGNUM_LITE_CREATE_TEMPLATES" == "True" ]]; then
            echo_summary "Creating magnum-lite's cluster templates"
            create_magnum_lite_templates
        fi
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_magnum_lite
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_magnum_lite
    fi
fi

$_XTRACE_MAGNUM_LITE_PLUGIN
