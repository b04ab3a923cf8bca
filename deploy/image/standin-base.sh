#!/usr/bin/env bash
# A stand-in for python:3.11-slim, for a machine that reaches no container
# registry: Debian bookworm's own Python 3.11 with venv and CA certificates,
# made with mmdebstrap from the machine's apt sources and imported as TAG.
# The Dockerfile needs python3 with its venv module, groupadd/useradd and
# nothing else from its base.
#
#   deploy/image/standin-base.sh TAG
set -euo pipefail
tag=${1:?usage: standin-base.sh TAG}
docker=${DOCKER:-docker}

# The machine's apt sources, read now (mmdebstrap copies an existing file
# given as a mirror into the new system): no mirror host is named here.
sources=()
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$file" ] && sources+=("$file")
done
[ ${#sources[@]} -gt 0 ] || { echo "standin-base: no apt sources on this machine" >&2; exit 1; }

mmdebstrap --quiet --variant=minbase \
    --include=python3,python3-venv,ca-certificates,passwd \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    bookworm - "${sources[@]}" \
    | "$docker" import --change 'CMD ["python3"]' - "$tag" > /dev/null
