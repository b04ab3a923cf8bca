#!/usr/bin/env bash
# `make image-test`: build the production image and smoke-test it
# (deploy/image/smoke.py), on the container engine that runs here or on one
# this script starts and stops.
#
# With no engine running, and as root, it installs Debian's docker.io and
# mmdebstrap when missing and runs its own dockerd: own data root and socket
# under /var/tmp, no iptables, no bridge (containers use the host's network),
# stopped and deleted on exit, whatever happened. When no engine can be had,
# the test is skipped with the reason; with CI=true that is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}

give_up() {
    if [ "${CI:-}" = true ]; then
        echo "image-test: FAILED: $1" >&2
        exit 1
    fi
    echo "image-test: SKIPPED: $1"
    exit 0
}

engine_dir=""
dockerd_pid=""
stop_engine() {
    [ -n "$engine_dir" ] || return 0
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        kill "$dockerd_pid"
        for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$dockerd_pid" 2>/dev/null && kill -9 "$dockerd_pid"
    fi
    # Anything dockerd left mounted under its folders, deepest first, then the folders.
    grep -o " $engine_dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$engine_dir"
    echo "image-test: engine stopped, $engine_dir removed"
}

start_engine() {
    [ "$(id -u)" = 0 ] || give_up "no container engine is running, and starting one needs root"
    if ! command -v dockerd > /dev/null || ! command -v mmdebstrap > /dev/null; then
        echo "image-test: installing docker.io and mmdebstrap"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            docker.io mmdebstrap > /dev/null; } \
            || give_up "could not install docker.io and mmdebstrap with apt-get"
    fi
    engine_dir=$(mktemp -d /var/tmp/inference-api-engine.XXXXXX)
    trap stop_engine EXIT
    dockerd --data-root "$engine_dir/data" --exec-root "$engine_dir/exec" \
        --pidfile "$engine_dir/dockerd.pid" --host "unix://$engine_dir/docker.sock" \
        --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
        > "$engine_dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST="unix://$engine_dir/docker.sock"
    for _ in $(seq 60); do
        /usr/bin/docker info > /dev/null 2>&1 && return 0
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    tail -20 "$engine_dir/dockerd.log" >&2
    give_up "dockerd did not start (log above)"
}

# A docker CLI whose `build` speaks BuildKit (for the build secrets): one with
# the buildx plugin, or Debian's docker.io 20.10, which has it built in.
pick_cli() {
    local cli
    for cli in ${DOCKER:-} docker /usr/bin/docker; do
        command -v "$cli" > /dev/null || continue
        if "$cli" buildx version > /dev/null 2>&1 \
            || "$cli" version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
            export DOCKER=$cli
            return 0
        fi
    done
    give_up "no docker CLI with BuildKit (install the buildx plugin, or Debian's docker.io)"
}

if ${DOCKER:-docker} info > /dev/null 2>&1; then
    echo "image-test: using the running engine (${DOCKER_HOST:-default socket})"
else
    start_engine
    echo "image-test: started dockerd on $DOCKER_HOST"
fi
pick_cli
echo "image-test: docker CLI $DOCKER"
"$PYTHON" deploy/image/smoke.py
