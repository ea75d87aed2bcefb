#!/usr/bin/env bash
# Make racer's base image from Debian's packages, for machines that reach no
# container registry: debootstrap a minimal bookworm, trim it, docker-import it.
#
#   offline/base-image.sh        -> prints racer-base:bookworm-<key>
#
# The image is tagged racer-base:bookworm-<key> and racer-base:bookworm, where
# <key> hashes this script and the package list; when that tag exists the
# script does nothing. Progress goes to stderr, the tag to stdout.
# Needs root and a running Docker engine. RACER_DEBIAN_MIRROR overrides the
# Debian mirror.
set -euo pipefail

SUITE=bookworm
REPO=racer-base
MIRROR=${RACER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${RACER_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# Runtime libraries of the CPython in offline/recipes/python (it links against
# the system's), plus CA certificates for TLS from inside containers.
INCLUDE=(
    ca-certificates
    libssl3
    libffi8
    zlib1g
    libbz2-1.0
    liblzma5
    libsqlite3-0
    libreadline8
    libncursesw6
    libtinfo6
    libuuid1
    libcrypt1
)

ROOTFS=""

log() { echo "[base-image] $*" >&2; }
die() { echo "base-image.sh: error: $*" >&2; exit 1; }

image_key() {
    { cat "${BASH_SOURCE[0]}"; printf '%s\n' "${INCLUDE[@]}"; } | sha256sum | cut -c1-12
}

cleanup() {
    [[ -n $ROOTFS && -d $ROOTFS ]] || return 0
    # A killed debootstrap can leave /proc, /sys or a bind-mounted /dev inside
    # the rootfs: unmount them, and never let rm cross into another filesystem.
    awk -v root="$ROOTFS/" 'index($2, root) == 1 { print $2 }' /proc/self/mounts |
        sort -r | while read -r mountpoint; do umount -l "$mountpoint" || true; done
    rm -rf --one-file-system "$ROOTFS"
}

require_tools() {
    [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
    docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        apt-get install -y --no-install-recommends debootstrap >&2 ||
            { apt-get update >&2 && apt-get install -y --no-install-recommends debootstrap >&2; } ||
            die "could not install debootstrap"
    fi
}

bootstrap() {
    local include
    include=$(IFS=,; echo "${INCLUDE[*]}")
    log "debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOTFS" "$MIRROR" >&2 ||
        die "debootstrap failed"
}

# debootstrap installs from the release alone; take the point and security
# updates too, as Debian's own images do.
apply_updates() {
    cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -f "$ROOTFS/etc/apt/sources.list"
    log "applying $SUITE-updates and $SUITE-security"
    chroot "$ROOTFS" apt-get update -qq >&2 || die "apt-get update in the rootfs failed"
    chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >&2 ||
        die "apt-get upgrade in the rootfs failed"
}

# What containers never need at run time; dpkg is told to skip the same
# paths when packages are installed later in derived images.
trim() {
    log "trimming docs, man pages, locales, apt lists and logs"
    cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/racer-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    chroot "$ROOTFS" apt-get clean
    find "$ROOTFS/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$ROOTFS"/usr/share/{man,info,locale,lintian}/* \
        "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
        "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old
    find "$ROOTFS/var/log" -type f -delete
    : >"$ROOTFS/etc/machine-id"
}

import_image() {
    local tag=$1
    log "importing the rootfs ($(du -sh --one-file-system "$ROOTFS" | cut -f1)) as $tag"
    tar --numeric-owner --one-file-system -C "$ROOTFS" -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["bash"]' \
            - "$tag" >/dev/null || die "docker import failed"
}

main() {
    local tag
    tag="$REPO:$SUITE-$(image_key)"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        log "$tag exists"
    else
        require_tools
        trap cleanup EXIT
        ROOTFS=$(mktemp -d "${TMPDIR:-/var/tmp}/racer-base.XXXXXX")
        bootstrap
        apply_updates
        trim
        import_image "$tag"
        cleanup
    fi
    docker tag "$tag" "$REPO:$SUITE"
    log "$tag: $(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec) (also tagged $REPO:$SUITE)"
    echo "$tag"
}

main "$@"
