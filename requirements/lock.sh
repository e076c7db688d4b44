#!/usr/bin/env bash
# Regenerate the locks from pyproject.toml's ranges (newest allowed versions,
# with hashes). Run `KEYTURN_CI_NEWEST=1 bash .ci/run` first: if the suite is
# green on the newest versions, lock them with this script and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || python3 -m pip install -q uv
common=(--quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header)
echo 'setuptools>=68' > /tmp/keyturn-build.in
uv pip compile "${common[@]}" pyproject.toml --extra server /tmp/keyturn-build.in -o requirements/server.lock
uv pip compile "${common[@]}" pyproject.toml --extra server --extra test /tmp/keyturn-build.in -o requirements/test.lock
