#!/usr/bin/env bash
# Install (or upgrade) edge-runtime as a systemd service on a Jetson module. Idempotent: run it
# again after `git pull` to upgrade; your /etc/edge-runtime files are kept. docs/deploy.md.
#
#   sudo deploy/jetson/install.sh [--no-start] [--python PYTHON] [--pip-args "ARGS"]
#
# What it does: a system user edge-runtime in the video and render groups; /etc/edge-runtime
# (the env file, pipeline sets and recipes, copied once); a venv in /opt/edge-runtime that sees
# the system's TensorRT and ROS 2 Python packages (--system-site-packages); the sudoers rule
# that lets that user run exactly `nvpmodel -m N`; the units (the service and its power
# agent); then enable and start.
set -euo pipefail

SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PREFIX=${EDGE_RUNTIME_PREFIX:-/opt/edge-runtime}
CONF_DIR=/etc/edge-runtime
UNIT_DIR=/etc/systemd/system
SUDOERS=/etc/sudoers.d/edge-runtime
SERVICE_USER=edge-runtime
NVPMODEL=/usr/sbin/nvpmodel
PYTHON=python3
PIP_ARGS=()
START=1

usage() {
    sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --no-start) START=0 ;;
        --python) PYTHON=${2:?--python needs a value}; shift ;;
        --pip-args) read -r -a PIP_ARGS <<< "${2:?--pip-args needs a value}"; shift ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo $0)" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "install.sh: $PYTHON is not Python >= 3.10 (JetPack 6 has 3.10; use --python)" >&2
    exit 2
fi

say "user $SERVICE_USER in groups video and render"
for group in video render; do
    getent group "$group" > /dev/null || groupadd --system "$group"
done
if ! getent passwd "$SERVICE_USER" > /dev/null; then
    useradd --system --user-group --home-dir /var/lib/edge-runtime --no-create-home \
        --shell /usr/sbin/nologin --comment "edge-runtime service" "$SERVICE_USER"
fi
usermod --append --groups video,render "$SERVICE_USER"

say "directories"
install -d -m 0755 "$CONF_DIR" "$PREFIX"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" /var/lib/edge-runtime \
    /var/cache/edge-runtime

say "venv $PREFIX/venv (with the system's site-packages: TensorRT, ROS 2)"
if [ ! -x "$PREFIX/venv/bin/python" ]; then
    "$PYTHON" -m venv --system-site-packages "$PREFIX/venv"
fi
"$PREFIX/venv/bin/python" -m pip install --quiet --upgrade "${PIP_ARGS[@]}" \
    -c "$SOURCE_DIR/constraints.txt" "$SOURCE_DIR"

say "configuration in $CONF_DIR (existing files are kept)"
if [ ! -e "$CONF_DIR/edge-runtime.env" ]; then
    install -m 0644 "$SOURCE_DIR/deploy/jetson/edge-runtime.env" "$CONF_DIR/edge-runtime.env"
fi
for dir in pipelines engines; do
    if [ ! -e "$CONF_DIR/$dir" ]; then
        cp -R "$SOURCE_DIR/$dir" "$CONF_DIR/$dir"
        chmod -R u=rwX,go=rX "$CONF_DIR/$dir"
    fi
done

say "sudoers rule: $SERVICE_USER may run exactly $NVPMODEL -m N"
# Each mode spelled out, not `-m [0-9]*`: in sudoers a `*` also matches spaces, so the wildcard
# would allow `nvpmodel -m 0 -f /tmp/any.conf`, a root-run config of the caller's choosing.
modes=()
for mode in $(seq 0 15); do
    modes+=("$NVPMODEL -m $mode")
done
rule_file=$(mktemp)
trap 'rm -f "$rule_file"' EXIT
{
    echo "# edge-runtime may switch power modes (deploy/jetson/install.sh); nothing else."
    printf '%s ALL=(root) NOPASSWD: ' "$SERVICE_USER"
    (IFS=,; echo "${modes[*]}") | sed 's/,/, /g'
} > "$rule_file"
if command -v visudo > /dev/null; then
    visudo -c -q -f "$rule_file"
fi
install -d -m 0750 /etc/sudoers.d
install -m 0440 "$rule_file" "$SUDOERS"

say "units: edge-runtime.service, and the power agent's edge-runtime-power.{socket,service}"
for unit in edge-runtime.service edge-runtime-power.socket edge-runtime-power.service; do
    install -m 0644 "$SOURCE_DIR/deploy/jetson/$unit" "$UNIT_DIR/$unit"
done
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable edge-runtime-power.socket edge-runtime.service
    if [ "$START" -eq 1 ]; then
        systemctl restart edge-runtime-power.socket
        systemctl try-restart edge-runtime-power.service
        systemctl restart edge-runtime.service
        say "started: systemctl status edge-runtime; journalctl -u edge-runtime -f"
    fi
else
    say "systemd is not running here: enable it later with systemctl enable --now" \
        "edge-runtime-power.socket edge-runtime.service"
fi
