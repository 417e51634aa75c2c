#!/usr/bin/env bash
# Installs the Debian packages Gantry's tooling and test suite need, only when missing.
# Idempotent and quick when everything is present. Run as root (CI) or with sudo.
set -euo pipefail

need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v socat >/dev/null 2>&1 || need+=(socat)
[ -e /usr/share/zookeeper/lib ] || [ -e /usr/share/java/zookeeper.jar ] || need+=(zookeeper)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-system-deps: need root to install: ${need[*]}" >&2; exit 1
    fi
else
    SUDO=
fi
echo "install-system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
