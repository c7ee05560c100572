# Sourced by bin/run and bin/test from the repository root: find Python 3.11+, make .venv,
# and install the project into it (pip install -e ".[dev]") whenever pyproject.toml changed.
# POSIX sh, so that it works on a fresh machine with nothing but Python.

say() { printf 'eventhub: %s\n' "$*" >&2; }

python_ok() {
    command -v "$1" >/dev/null 2>&1 \
        && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
    python_ok "$PYTHON" || { say "PYTHON=$PYTHON is not Python 3.11 or newer"; exit 1; }
    EVENTHUB_PYTHON=$PYTHON
else
    EVENTHUB_PYTHON=
    for candidate in python3.13 python3.12 python3.11 python3; do
        if python_ok "$candidate"; then EVENTHUB_PYTHON=$candidate; break; fi
    done
    [ -n "$EVENTHUB_PYTHON" ] || { say "Python 3.11 or newer is needed (or set PYTHON)"; exit 1; }
fi

if ! python_ok .venv/bin/python; then
    say "creating .venv with $("$EVENTHUB_PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    "$EVENTHUB_PYTHON" -m venv --clear .venv || {
        say "could not create .venv (on Debian/Ubuntu: apt install python3-venv)"
        exit 1
    }
fi

EVENTHUB_STAMP=.venv/.eventhub-pyproject.sha256
EVENTHUB_HASH=$(.venv/bin/python -c \
    'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
if [ "$(cat "$EVENTHUB_STAMP" 2>/dev/null)" != "$EVENTHUB_HASH" ]; then
    say "installing dependencies (pyproject.toml changed since the last install)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" \
        >.venv/pip-install.log 2>&1 || {
        tail -n 40 .venv/pip-install.log >&2
        say "pip install failed (full output in .venv/pip-install.log)"
        exit 1
    }
    echo "$EVENTHUB_HASH" >"$EVENTHUB_STAMP"
fi
