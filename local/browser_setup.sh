#!/usr/bin/env bash
# Make the in-browser tests runnable: Debian's Chromium, driven by Playwright from the project
# virtualenv (.venv). Playwright's own browser download is not used (no internet here): the
# tests launch the system `chromium` through Playwright's `executable_path`.
#
# What it does (each step is skipped when already in place, so a second run takes a moment):
#   1. installs Debian's `chromium` package with apt when `command -v chromium` fails
#      (apt-get update only when the package lists lack it or the install fails with them);
#   2. checks that Playwright imports from .venv/bin/python (requirements-dev.txt pins it;
#      `make venv` installs it) and that Chromium starts (`chromium --version`).
#
# Usage:
#   local/browser_setup.sh           set up (idempotent)
#   local/browser_setup.sh --check   exit 0 only when everything is ready; changes nothing
#
# Environment overrides: VENV_PYTHON (default .venv/bin/python), APT_LOG (default
# /tmp/browser-setup-apt.log), APT_LOCK_TIMEOUT (seconds to wait for dpkg's lock, default 300).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_PYTHON="${VENV_PYTHON:-$REPO_ROOT/.venv/bin/python}"
APT_LOG="${APT_LOG:-/tmp/browser-setup-apt.log}"
APT_LOCK_TIMEOUT="${APT_LOCK_TIMEOUT:-300}"
export DEBIAN_FRONTEND=noninteractive

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

MODE="setup"
case "${1:-}" in
"") ;;
--check) MODE="check" ;;
-h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown argument: $1 (try --help)" ;;
esac

# shellcheck source=local/apt_package.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_package.sh"

# --- 1. Chromium ----------------------------------------------------------------------------
if command -v chromium >/dev/null 2>&1; then
    say "chromium: present ($(command -v chromium)), apt skipped"
elif [ "$MODE" = check ]; then
    die "chromium is missing (run local/browser_setup.sh, or apt-get install chromium)"
else
    apt_install chromium Chromium
    command -v chromium >/dev/null 2>&1 || die "apt installed chromium but \`command -v chromium\` still fails"
fi
version="$(chromium --version 2>/dev/null)" || die "chromium is installed but \`chromium --version\` fails"
say "chromium: $version"

# --- 2. Playwright in the project virtualenv -------------------------------------------------
[ -x "$VENV_PYTHON" ] || die "no project virtualenv at $VENV_PYTHON (run make venv)"
if ! pw_version="$("$VENV_PYTHON" -c 'from importlib.metadata import version; import playwright.sync_api; print(version("playwright"))' 2>/dev/null)"; then
    die "Playwright does not import from $VENV_PYTHON (run make venv: requirements-dev.txt pins it)"
fi
say "playwright: $pw_version in $VENV_PYTHON"
say "browser setup ready"
