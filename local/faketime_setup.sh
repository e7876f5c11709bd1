#!/usr/bin/env bash
# Make the time-travel test runs possible: Debian's `faketime` (libfaketime), which starts a
# command with its clock moved (`faketime -f "+400d" cmd`), children included (LD_PRELOAD and
# FAKETIME are inherited by every process the command starts: moto server, the Dwolla sandbox).
#
# What it does (skipped when already in place, so a second run takes a moment):
#   1. installs Debian's `faketime` package with apt when `command -v faketime` fails
#      (apt-get update only when the package lists lack it or the install fails with them);
#   2. checks that the clock really moves: `faketime -f "+400d" date +%s` is ~400 days ahead
#      and still ticking (libfaketime's running-clock form, not a frozen one).
#
# Usage:
#   local/faketime_setup.sh           set up (idempotent)
#   local/faketime_setup.sh --check   exit 0 only when everything is ready; changes nothing
#
# Environment overrides: APT_LOG (default /tmp/faketime-setup-apt.log), APT_LOCK_TIMEOUT
# (seconds to wait for dpkg's lock, default 300).
set -euo pipefail

APT_LOG="${APT_LOG:-/tmp/faketime-setup-apt.log}"
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

if command -v faketime >/dev/null 2>&1; then
    say "faketime: present ($(command -v faketime)), apt skipped"
elif [ "$MODE" = check ]; then
    die "faketime is missing (run local/faketime_setup.sh, or apt-get install faketime)"
else
    apt_install faketime libfaketime
    command -v faketime >/dev/null 2>&1 || die "apt installed faketime but \`command -v faketime\` still fails"
fi

# The clock is ~400 days ahead and runs (a frozen clock would break every timeout).
real="$(date +%s)"
times="$(faketime -f "+400d" sh -c 'date +%s.%N; sleep 0.2; date +%s.%N')"
first="${times%%$'\n'*}" second="${times##*$'\n'}"
ahead=$((${first%.*} - real))
[ "$ahead" -ge $((400 * 86400 - 60)) ] && [ "$ahead" -le $((400 * 86400 + 60)) ] ||
    die "faketime -f +400d moved the clock by ${ahead}s, not 400 days"
awk -v a="$first" -v b="$second" 'BEGIN { exit !(b - a >= 0.1) }' ||
    die "faketime's clock does not run (${first} then ${second} 0.2 s later)"
say "faketime: $(faketime -f "+400d" date -u '+%Y-%m-%d %H:%M:%S UTC') at +400d, running"
