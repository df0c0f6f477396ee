#!/usr/bin/env bash
# The test command (`npm test`, which .ci/run calls): provisions what the suites need on a fresh
# Debian/Ubuntu machine, then builds and runs them. Arguments, if any, are the compiled test files
# or directories to run instead of all of dist/test (e.g. `npm test -- dist/test/unit`).
#
# System programs the tests run for real, and the Debian package of each. Only bash builtins run
# before the check below (and, in it, Debian's python3 by its full path), so a PATH without these
# programs gets the message, not a crash.
set -uo pipefail
declare -A PACKAGE_OF=(
  [redis-server]=redis-server   # every store, cluster, chaos and e2e suite starts its own
  [chromium]=chromium           # the admin UI's end-to-end suite (playwright-core drives it)
  [prometheus]=prometheus       # the alerting test scrapes a real gateway
  [promtool]=prometheus         # `promtool test rules` on deploy/prometheus
  [openssl]=openssl             # the TLS suites make their certificates with it
  [protoc]=protobuf-compiler    # the gRPC wire check generates Python messages from protos/
)
# Files and Python modules the suites use, checked the same way. The gRPC wire check runs a second
# gRPC client, grpcio, under Debian's own interpreter (a python3 earlier on PATH may lack it).
PYTHON=/usr/bin/python3
declare -A PACKAGE_OF_FILE=(
  [/usr/include/google/protobuf/wrappers.proto]=libprotobuf-dev   # protoc's well-known types
)
declare -A PACKAGE_OF_PYTHON_MODULE=(
  [grpc]=python3-grpcio
  [google.protobuf]=python3-protobuf
)
root="${BASH_SOURCE[0]%/*}/.."
cd "$root" || exit 1

have() { command -v "$1" >/dev/null 2>&1; }

# The Debian packages of the programs, files and Python modules not found, each once, separated by spaces.
missing_packages() {
  local program
  local -A packages=()
  for program in "${!PACKAGE_OF[@]}"; do
    if [[ $program == chromium && -n ${CHROMIUM_PATH:-} && -x ${CHROMIUM_PATH} ]]; then continue; fi
    have "$program" || packages[${PACKAGE_OF[$program]}]=1
  done
  local file module
  for file in "${!PACKAGE_OF_FILE[@]}"; do
    [[ -e $file ]] || packages[${PACKAGE_OF_FILE[$file]}]=1
  done
  for module in "${!PACKAGE_OF_PYTHON_MODULE[@]}"; do
    if ! { [[ -x $PYTHON ]] && "$PYTHON" -c "import $module" 2>/dev/null; }; then
      packages[${PACKAGE_OF_PYTHON_MODULE[$module]}]=1
    fi
  done
  local list="${!packages[*]}"
  printf '%s' "$list"
}

missing=$(missing_packages)
if [[ -n $missing ]]; then
  if ((EUID == 0)) && have apt-get; then
    echo "test setup: installing ${missing} (apt-get)"
    apt-get update -qq || exit 1
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
    still=$(missing_packages)
    if [[ -n $still ]]; then
      echo "test setup: ${still} still missing after apt-get install" >&2
      exit 1
    fi
  else
    echo "test setup: missing ${missing}: run \`sudo apt-get install -y ${missing}\` (as root on Debian/Ubuntu, npm test installs them itself)" >&2
    exit 1
  fi
fi
if [[ -z ${CHROMIUM_PATH:-} ]]; then
  CHROMIUM_PATH=$(command -v chromium)
  export CHROMIUM_PATH
fi

# Dependencies: installed, and no older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "test setup: npm ci"
  npm ci --no-audit --no-fund || exit 1
fi

npm run build --silent || exit 1
if (($# == 0)); then set -- dist/test; fi
exec node --test --test-timeout=180000 "$@"
