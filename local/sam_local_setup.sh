#!/usr/bin/env bash
# Make `sam local invoke` and `sam local start-api` usable on this machine, offline.
#
# What it does (each step is skipped when already in place, so a second run takes seconds):
#   1. installs docker.io and debootstrap from Debian when they are missing;
#   2. starts dockerd in the background when `docker info` does not answer;
#   3. creates the SAM CLI virtual environment .venv-sam (pinned version);
#   4. provides the Lambda base image SAM CLI runs python3.13 (x86_64) functions on:
#      kept when present, else pulled (where a registry is reachable), else built offline
#      as a stand-in: Debian trixie's Python 3.13 + awslambdaric + boto3 (see
#      shared/local-lambda/NOTES.md). SAM CLI layers its runtime interface emulator on top
#      itself (the "...:3.13-rapid-x86_64" image) on the first invoke;
#   5. prints a summary, including the docker bridge address that local servers listen on
#      and that functions reach as host.docker.internal.
#
# Usage:
#   local/sam_local_setup.sh                   set everything up (idempotent)
#   local/sam_local_setup.sh --check           exit 0 only when everything is ready; changes nothing
#   local/sam_local_setup.sh --bridge-address  print the docker bridge gateway address and exit
#
# Environment overrides: SAM_LOCAL_CACHE_DIR (rootfs cache, default /tmp/sam-local-cache),
# DOCKERD_LOG (default /tmp/dockerd.log), DOCKERD_WAIT_SECONDS (60), DOCKER_PULL_TIMEOUT (20).
set -euo pipefail

# --- pins and names -------------------------------------------------------------------------
SAM_CLI_VERSION="1.170.0"
AWSLAMBDARIC_VERSION="4.2.2"
BOTO3_VERSION="1.44.5" # same as the project's own environment (requirements-dev.txt)
DEBIAN_SUITE="trixie"  # Debian 13: Python 3.13, like the Lambda python3.13 runtime
DEBIAN_MIRROR="http://deb.debian.org/debian"

# What SAM CLI 1.170 looks for: runtime python3.13 + x86_64 -> <repo>/python:3.13-x86_64
# (python3.13 exists for two architectures, so the tag carries the architecture), and it
# builds <repo>/python:3.13-rapid-x86_64 on top of it on the first invoke.
LAMBDA_IMAGE="public.ecr.aws/lambda/python:3.13-x86_64"
RAPID_IMAGE="public.ecr.aws/lambda/python:3.13-rapid-x86_64"
BUILD_LABEL="local.sam-local-setup.build-id" # marks the offline stand-in and its inputs

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAM_VENV="$REPO_ROOT/.venv-sam"
CACHE_DIR="${SAM_LOCAL_CACHE_DIR:-/tmp/sam-local-cache}"
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
DOCKER_PULL_TIMEOUT="${DOCKER_PULL_TIMEOUT:-20}"
DOCKERD_WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

export SAM_CLI_TELEMETRY=0
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
--bridge-address) MODE="bridge" ;;
-h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown argument: $1 (try --help)" ;;
esac

# --- small helpers --------------------------------------------------------------------------
docker_answers() { docker info >/dev/null 2>&1; }

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

image_label() {
    docker image inspect --format "{{ index .Config.Labels \"$BUILD_LABEL\" }}" "$1" 2>/dev/null || true
}

bridge_address() {
    ip -4 -o addr show docker0 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}'
}

sam_version_ok() {
    [ -x "$SAM_VENV/bin/sam" ] &&
        [ "$("$SAM_VENV/bin/sam" --version 2>/dev/null)" = "SAM CLI, version $SAM_CLI_VERSION" ]
}

# Files that turn the Debian rootfs into a Lambda python3.13 image. Their text is part of the
# build id below, so editing them (or the pins) makes the next run rebuild the stand-in.
write_runtime_files() {
    local root="$1"
    mkdir -p "$root/var/runtime" "$root/var/task" "$root/opt" "$root/var/lang/bin"
    ln -sf /usr/bin/python3 "$root/var/lang/bin/python3"
    ln -sf /usr/bin/python3 "$root/var/lang/bin/python3.13"
    ln -sf /usr/bin/python3 "$root/var/lang/bin/python"

    cat >"$root/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
# Lambda custom-runtime bootstrap: the Python runtime interface client runs the handler.
export PYTHONPATH="/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
handler="${1:-${_HANDLER:-${AWS_LAMBDA_FUNCTION_HANDLER:-}}}"
exec /usr/bin/python3 -m awslambdaric "$handler"
EOF
    chmod 0755 "$root/var/runtime/bootstrap"

    cat >"$root/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
# Same contract as the real image: outside Lambda run the emulator around the bootstrap.
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
    exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap "$@"
else
    exec /var/runtime/bootstrap "$@"
fi
EOF
    chmod 0755 "$root/lambda-entrypoint.sh"
}

BUILD_ID="$(
    {
        echo "$DEBIAN_SUITE $AWSLAMBDARIC_VERSION $BOTO3_VERSION $SAM_CLI_VERSION"
        declare -f write_runtime_files
    } | sha256sum | cut -c1-16
)"

# --- --bridge-address ------------------------------------------------------------------------
if [ "$MODE" = "bridge" ]; then
    addr="$(bridge_address)"
    [ -n "$addr" ] || die "no docker0 bridge (is dockerd running? run local/sam_local_setup.sh)"
    echo "$addr"
    exit 0
fi

# --- --check ---------------------------------------------------------------------------------
if [ "$MODE" = "check" ]; then
    missing=0
    if docker_answers; then
        say "docker engine answers"
    else
        say "NOT READY: docker engine does not answer"
        missing=1
    fi
    if docker_answers && image_present "$LAMBDA_IMAGE"; then
        label="$(image_label "$LAMBDA_IMAGE")"
        if [ -n "$label" ] && [ "$label" != "<no value>" ] && [ "$label" != "$BUILD_ID" ]; then
            say "NOT READY: $LAMBDA_IMAGE is an out-of-date stand-in ($label, want $BUILD_ID)"
            missing=1
        else
            say "image $LAMBDA_IMAGE present"
        fi
    else
        say "NOT READY: image $LAMBDA_IMAGE missing"
        missing=1
    fi
    if sam_version_ok; then
        say "SAM CLI $SAM_CLI_VERSION in $SAM_VENV"
    else
        say "NOT READY: SAM CLI $SAM_CLI_VERSION not in $SAM_VENV"
        missing=1
    fi
    if [ -n "$(bridge_address)" ]; then
        say "docker bridge address $(bridge_address)"
    else
        say "NOT READY: no docker0 bridge address"
        missing=1
    fi
    if [ "$missing" -ne 0 ]; then
        say "not ready: run local/sam_local_setup.sh"
        exit 1
    fi
    say "ready"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts dockerd)"

# One run at a time (two test sessions may call this at once).
exec 9>/tmp/sam-local-setup.lock
if ! flock -n 9; then
    say "another sam_local_setup.sh run is in progress, waiting for it"
    flock 9
fi

WORK_DIR=""
cleanup() {
    if [ -n "$WORK_DIR" ] && [ -d "$WORK_DIR" ]; then
        # A failed debootstrap can leave /proc or /sys mounted in the rootfs: never descend.
        findmnt -rno TARGET | grep -F "$WORK_DIR/" | sort -r | xargs -r -n1 umount -l || true
        rm -rf --one-file-system "$WORK_DIR"
    fi
}
trap cleanup EXIT

# --- 1. Debian packages ----------------------------------------------------------------------
packages=()
if ! command -v dockerd >/dev/null 2>&1 && ! docker_answers; then
    packages+=(docker.io)
fi
# debootstrap only builds the stand-in image; not needed once the image is there.
if ! command -v debootstrap >/dev/null 2>&1 &&
    ! { docker_answers && image_present "$LAMBDA_IMAGE"; }; then
    packages+=(debootstrap)
fi
if [ "${#packages[@]}" -eq 0 ]; then
    say "packages: docker engine and debootstrap already present, apt skipped"
else
    say "packages: installing ${packages[*]} with apt (apt-get update first)"
    apt_log="/tmp/sam-local-apt.log"
    apt-get update >"$apt_log" 2>&1 || say "apt-get update reported errors (see $apt_log), trying the install anyway"
    if ! apt-get install -y --no-install-recommends "${packages[@]}" >>"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "apt-get install ${packages[*]} failed (full log: $apt_log)"
    fi
fi
command -v docker >/dev/null 2>&1 || die "no docker client on PATH"

# --- 2. Docker engine ------------------------------------------------------------------------
if docker_answers; then
    say "docker engine: already answering"
else
    dockerd_pid=""
    if pgrep -x dockerd >/dev/null 2>&1; then
        say "docker engine: dockerd is running but not answering yet, waiting up to ${DOCKERD_WAIT_SECONDS}s"
    else
        command -v dockerd >/dev/null 2>&1 || die "no dockerd on PATH and no docker engine answers"
        say "docker engine: starting dockerd in the background (log: $DOCKERD_LOG)"
        # setsid + nohup: the daemon outlives this script and the shell that ran it;
        # 9>&-: it must not inherit (and so hold forever) this script's lock.
        setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
        dockerd_pid=$!
    fi
    for _ in $(seq 1 "$DOCKERD_WAIT_SECONDS"); do
        docker_answers && break
        if [ -n "$dockerd_pid" ] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
            break # it exited: no point in waiting
        fi
        sleep 1
    done
    if ! docker_answers; then
        tail -n 15 "$DOCKERD_LOG" >&2 || true
        if [ -n "$dockerd_pid" ] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
            why="dockerd exited"
        else
            why="docker info did not answer within ${DOCKERD_WAIT_SECONDS}s"
        fi
        die "the docker engine cannot run here ($why): sam local needs one (cgroups, iptables and \
overlay support; or Docker Desktop). Full log: $DOCKERD_LOG"
    fi
    say "docker engine: answering"
fi

# --- 3. SAM CLI virtual environment ------------------------------------------------------------
# Before the image: the stand-in takes SAM CLI's own runtime interface emulator binary.
if sam_version_ok; then
    say "SAM CLI: $SAM_CLI_VERSION already in $SAM_VENV"
else
    say "SAM CLI: installing aws-sam-cli==$SAM_CLI_VERSION into $SAM_VENV"
    pip_log="/tmp/sam-local-pip.log"
    if ! { python3 -m venv "$SAM_VENV" &&
        "$SAM_VENV/bin/pip" install --disable-pip-version-check \
            "aws-sam-cli==$SAM_CLI_VERSION"; } >"$pip_log" 2>&1; then
        tail -n 20 "$pip_log" >&2
        die "installing SAM CLI failed (full log: $pip_log)"
    fi
    sam_version_ok || die "$SAM_VENV/bin/sam --version does not print $SAM_CLI_VERSION"
fi

# --- 4. Lambda base image ----------------------------------------------------------------------
build_standin_image() {
    local rootfs_tar="$CACHE_DIR/lambda-python3.13-rootfs-$BUILD_ID.tar"
    mkdir -p "$CACHE_DIR"
    if [ -s "$rootfs_tar" ]; then
        say "image: reusing cached root filesystem $rootfs_tar"
    else
        WORK_DIR="$(mktemp -d /tmp/sam-local-image.XXXXXX)"
        local root="$WORK_DIR/rootfs" wheels="$WORK_DIR/wheels" log="$WORK_DIR/build.log"

        say "image: debootstrap $DEBIAN_SUITE minbase with python3 + ca-certificates (about a minute)"
        if ! debootstrap --variant=minbase --include=python3,ca-certificates \
            "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            die "debootstrap failed"
        fi
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

        say "image: awslambdaric==$AWSLAMBDARIC_VERSION and boto3==$BOTO3_VERSION into /var/runtime"
        local target=(--only-binary=:all: --python-version 3.13 --platform manylinux2014_x86_64
            --implementation cp)
        if ! {
            python3 -m pip download --disable-pip-version-check "${target[@]}" -d "$wheels" \
                "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION" &&
                python3 -m pip install --disable-pip-version-check --no-compile --no-index \
                    --find-links "$wheels" "${target[@]}" --target "$root/var/runtime" \
                    "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION"
        } >>"$log" 2>&1; then
            grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 20 >&2
            die "downloading or installing the runtime wheels failed"
        fi

        write_runtime_files "$root"
        # The emulator SAM CLI ships, where the real image has it (for plain `docker run`).
        local rie
        for rie in "$SAM_VENV"/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64; do
            if [ -f "$rie" ]; then
                install -D -m 0755 "$rie" "$root/usr/local/bin/aws-lambda-rie"
                break
            fi
        done

        say "image: caching the root filesystem as $rootfs_tar"
        rm -f "$CACHE_DIR"/lambda-python3.13-rootfs-*.tar # older builds
        tar --numeric-owner -C "$root" -cf "$rootfs_tar.partial" .
        mv "$rootfs_tar.partial" "$rootfs_tar"
        cleanup
        WORK_DIR=""
    fi

    say "image: docker import as $LAMBDA_IMAGE"
    docker import \
        -c "ENV LANG=C.UTF-8" \
        -c "ENV TZ=:/etc/localtime" \
        -c "ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin" \
        -c "ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib" \
        -c "ENV LAMBDA_TASK_ROOT=/var/task" \
        -c "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
        -c "LABEL $BUILD_LABEL=$BUILD_ID" \
        -c "WORKDIR /var/task" \
        -c 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
        "$rootfs_tar" "$LAMBDA_IMAGE" >/dev/null
}

remove_derived_images() {
    # SAM CLI reuses its derived images as long as they exist; drop them so the next invoke
    # rebuilds them on the new base image.
    # The per-layer-set images are children of the rapid image (shared build steps): first them.
    local ids
    ids="$(
        docker images -q --filter "reference=samcli/lambda-python:3.13-x86_64-*"
        docker images -q "$RAPID_IMAGE"
    )"
    if [ -n "$ids" ]; then
        say "image: removing images SAM CLI derived from the previous base"
        local id
        for id in $ids; do
            docker rmi -f "$id" >/dev/null 2>&1 || true
        done
    fi
}

stale_label=""
if image_present "$LAMBDA_IMAGE"; then
    label="$(image_label "$LAMBDA_IMAGE")"
    if [ -n "$label" ] && [ "$label" != "<no value>" ] && [ "$label" != "$BUILD_ID" ]; then
        stale_label="$label"
    fi
fi

if image_present "$LAMBDA_IMAGE" && [ -z "$stale_label" ]; then
    say "image: $LAMBDA_IMAGE already present"
else
    previous_id="$(docker image inspect --format '{{.Id}}' "$LAMBDA_IMAGE" 2>/dev/null || true)"
    if [ -n "$stale_label" ]; then
        say "image: $LAMBDA_IMAGE is an out-of-date stand-in ($stale_label), rebuilding"
        build_standin_image
    else
        say "image: trying docker pull $LAMBDA_IMAGE (${DOCKER_PULL_TIMEOUT}s at most)"
        if timeout "$DOCKER_PULL_TIMEOUT" docker pull -q "$LAMBDA_IMAGE" >/dev/null 2>&1; then
            say "image: pulled $LAMBDA_IMAGE"
        else
            say "image: cannot pull, building the offline stand-in"
            command -v debootstrap >/dev/null 2>&1 ||
                die "debootstrap is missing (apt-get install debootstrap) and the image cannot be pulled"
            build_standin_image
        fi
    fi
    remove_derived_images
    if [ -n "$previous_id" ]; then
        docker rmi "$previous_id" >/dev/null 2>&1 || true # the replaced stand-in, now untagged
    fi
fi

# --- 5. Summary ----------------------------------------------------------------------------------
bridge="$(bridge_address)"
[ -n "$bridge" ] || die "the docker0 bridge has no IPv4 address"
say "summary:"
echo "    docker engine  $(docker version --format '{{.Server.Version}}')"
echo "    lambda image   $LAMBDA_IMAGE $(docker image inspect --format '{{.Id}}' "$LAMBDA_IMAGE" | cut -c1-19)"
echo "    sam cli        $("$SAM_VENV/bin/sam" --version) ($SAM_VENV/bin/sam)"
echo "    docker bridge  $bridge"
echo
echo "    export SAM_CLI_TELEMETRY=0"
echo "    sam local invoke Fn -e events/x.json --skip-pull-image --add-host host.docker.internal:$bridge"
echo "    sam local start-api --skip-pull-image --add-host host.docker.internal:$bridge --env-vars env.json"
echo "    Local servers listen on $bridge (or 127.0.0.1 for host-only use); functions reach them"
echo "    as http://host.docker.internal:PORT (--add-host host.docker.internal:host-gateway works too)."
echo "    start-api with --warm-containers EAGER keeps one container per function (~30 ms a request)."
say "ready"
