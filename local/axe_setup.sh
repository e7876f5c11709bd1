#!/usr/bin/env bash
# axe-core, the accessibility checker the in-browser tests inject into the pages
# (tests/support/axe.py), from the npm registry: one exact version with its sha512 integrity,
# pinned in local/axe/package.json + package-lock.json, installed by `npm ci` (which refuses a
# tarball whose sha512 differs from the lock's) into .cache/axe/ (gitignored, outside git).
#
# Idempotent: when .cache/axe already holds that lock and axe.min.js, nothing runs (a moment).
# npm: this machine kind has Node.js and npm; where `npm` is missing, Debian's `npm` package is
# installed with apt (the registry's ordinary client: the integrity check stays npm's own).
#
# Usage:
#   local/axe_setup.sh           set up (idempotent)
#   local/axe_setup.sh --check   exit 0 only when axe-core is in place; changes nothing
#
# Environment overrides: AXE_DIR (default .cache/axe), APT_LOG, APT_LOCK_TIMEOUT.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PINNED="$REPO_ROOT/local/axe"
AXE_DIR="${AXE_DIR:-$REPO_ROOT/.cache/axe}"
APT_LOG="${APT_LOG:-/tmp/axe-setup-apt.log}"
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

version="$(sed -n 's/.*"axe-core": "\([^"]*\)".*/\1/p' "$PINNED/package.json")"
[ -n "$version" ] || die "no axe-core version in $PINNED/package.json"
script="$AXE_DIR/node_modules/axe-core/axe.min.js"

installed() {
    [ -s "$script" ] &&
        cmp -s "$PINNED/package-lock.json" "$AXE_DIR/package-lock.json" &&
        grep -q "\"version\": \"$version\"" "$AXE_DIR/node_modules/axe-core/package.json"
}

if installed; then
    say "axe-core: $version present ($script), npm skipped"
    exit 0
fi
[ "$MODE" = check ] && die "axe-core $version is missing from $AXE_DIR (run local/axe_setup.sh)"

if ! command -v npm >/dev/null 2>&1; then
    # shellcheck source=local/apt_package.sh
    source "$(dirname "${BASH_SOURCE[0]}")/apt_package.sh"
    apt_install npm npm
fi

mkdir -p "$AXE_DIR"
cp "$PINNED/package.json" "$PINNED/package-lock.json" "$AXE_DIR/"
say "axe-core: npm ci $version into $AXE_DIR"
(cd "$AXE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    die "npm ci failed in $AXE_DIR"
installed || die "npm ci ran but $script is not axe-core $version"
say "axe-core: $version ready"
