#!/usr/bin/env bash
# Remove the edge-runtime service. Idempotent. Keeps /etc/edge-runtime, the engine cache and
# the outputs unless --purge (which also removes the edge-runtime user). docs/deploy.md.
#
#   sudo deploy/jetson/uninstall.sh [--purge]
set -euo pipefail

PREFIX=${EDGE_RUNTIME_PREFIX:-/opt/edge-runtime}
PURGE=0
case "${1:-}" in
    "") ;;
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "uninstall.sh: run it as root (sudo $0)" >&2
    exit 2
fi

UNITS=(edge-runtime.service edge-runtime-power.socket edge-runtime-power.service)
if [ -d /run/systemd/system ]; then
    for unit in "${UNITS[@]}"; do
        if systemctl cat "$unit" > /dev/null 2>&1; then
            systemctl disable --now "$unit" || true
        fi
    done
fi
for unit in "${UNITS[@]}"; do
    rm -f "/etc/systemd/system/$unit"
done
rm -f /etc/sudoers.d/edge-runtime
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl reset-failed "${UNITS[@]}" 2> /dev/null || true
fi
rm -rf "$PREFIX"
if [ "$PURGE" -eq 1 ]; then
    rm -rf /etc/edge-runtime /var/lib/edge-runtime /var/cache/edge-runtime
    if getent passwd edge-runtime > /dev/null; then
        userdel edge-runtime
    fi
fi
echo "==> edge-runtime removed$([ "$PURGE" -eq 1 ] && echo ', with its data and user')"
