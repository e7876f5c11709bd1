# Sourced by local/browser_setup.sh and local/faketime_setup.sh: one Debian package installed with
# apt, the lists updated only when the package is not in them or the install fails.
# The sourcing script defines say and die, and sets APT_LOG and APT_LOCK_TIMEOUT.

apt_get() { apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT" "$@"; }

has_candidate() {
    # apt-cache policy prints "Candidate: (none)" (or nothing) when the lists lack the package.
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -qv '^(none)$'
}

# apt_install PACKAGE WHAT: install PACKAGE (WHAT names it in the advice when apt cannot).
apt_install() {
    local package="$1" what="$2"
    command -v apt-get >/dev/null 2>&1 || die "$package is missing and apt-get is not available: install $what yourself"
    [ "$(id -u)" = 0 ] || die "$package is missing: run this as root (apt-get install $package), or install it yourself"
    : >"$APT_LOG"
    if has_candidate "$package"; then
        say "$package: installing Debian's package with apt"
        if apt_get install -y "$package" >>"$APT_LOG" 2>&1; then
            return 0
        fi
        say "$package: install failed with the current package lists, running apt-get update"
    else
        say "$package: not in apt's package lists, running apt-get update"
    fi
    apt_get update >>"$APT_LOG" 2>&1 || say "apt-get update reported errors (see $APT_LOG), trying the install anyway"
    if ! apt_get install -y "$package" >>"$APT_LOG" 2>&1; then
        tail -n 20 "$APT_LOG" >&2
        die "apt-get install $package failed (full log: $APT_LOG)"
    fi
}
