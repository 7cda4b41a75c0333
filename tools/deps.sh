#!/bin/sh
# deps.sh - what `make` runs before it compiles anything: checks the C
# compiler and the libraries (pkg-config names) and, on a Debian/Ubuntu
# machine (apt-get), installs exactly the packages that are missing,
# printing the command first: `apt-get install ...` as root, `sudo apt-get
# install ...` otherwise. When the install fails for lack of package lists,
# it runs `apt-get update` and tries once more. Elsewhere (no apt-get) it
# prints one line naming what is missing. Silent and quick (one pkg-config
# call) when everything is there.
#
# Usage: sh tools/deps.sh [--no-install] [--cc CC] PKG...
#   --no-install  print the command that would install what is missing, and
#                 stop (make NO_INSTALL=1)
#   --cc CC       also check that the compiler CC runs (gcc/cc: build-essential)
# Exit: 0 everything is there (perhaps after installing it), 1 something is
# missing and was not installed, 2 usage.
set -u

no_install=0
cc=
while [ $# -gt 0 ]; do
    case $1 in
    --no-install) no_install=1; shift ;;
    --cc) [ $# -ge 2 ] || { echo "deps.sh: --cc needs a value" >&2; exit 2; }
          cc=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "deps.sh: unknown flag '$1'" >&2; exit 2 ;;
    *) break ;;
    esac
done

# The Debian package that provides a pkg-config name ("" when unknown).
deb_of() {
    case $1 in
    libcurl) echo libcurl4-openssl-dev ;;
    libarchive) echo libarchive-dev ;;
    libcjson) echo libcjson-dev ;;
    cairo) echo libcairo2-dev ;;
    libcrypto | libssl | openssl) echo libssl-dev ;;
    *) echo "" ;;
    esac
}

# Whether a Debian package providing pkg-config name $1 is installed (only
# asked when pkg-config is absent; libcurl has three flavours).
deb_installed() {
    command -v dpkg-query >/dev/null 2>&1 || return 1
    case $1 in
    libcurl) alts="libcurl4-openssl-dev libcurl4-gnutls-dev libcurl4-nss-dev" ;;
    *) alts=$(deb_of "$1") ;;
    esac
    for d in $alts; do
        case $(dpkg-query -W -f='${Status}' "$d" 2>/dev/null) in
        *"install ok installed"*) return 0 ;;
        esac
    done
    return 1
}

# Sets $missing (what is missing, words) and $debs (the packages to install;
# $unknown: missing things no Debian package is known for).
check() {
    missing= debs= unknown=
    if [ -n "$cc" ] && ! command -v "$cc" >/dev/null 2>&1; then
        missing="$missing $cc"
        case ${cc##*/} in
        gcc | cc) debs="$debs build-essential" ;;
        *) unknown="$unknown $cc" ;;
        esac
    fi
    [ $# -eq 0 ] && return 0
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --exists "$@" 2>/dev/null && return 0
        for p in "$@"; do
            pkg-config --exists "$p" 2>/dev/null && continue
            missing="$missing $p"
            d=$(deb_of "$p")
            if [ -n "$d" ]; then debs="$debs $d"; else unknown="$unknown $p"; fi
        done
    else
        # Without pkg-config: install it, and the -dev packages dpkg does not
        # list as installed (all of them where there is no dpkg).
        missing="$missing pkg-config"
        debs="$debs pkg-config"
        for p in "$@"; do
            d=$(deb_of "$p")
            if [ -n "$d" ] && deb_installed "$p"; then continue; fi
            missing="$missing $p"
            if [ -n "$d" ]; then debs="$debs $d"; else unknown="$unknown $p"; fi
        done
    fi
}

check "$@"
[ -z "$missing" ] && exit 0
missing=${missing# }
debs=${debs# }

if ! command -v apt-get >/dev/null 2>&1; then
    echo "augprobe build: missing:$(printf ' %s' $missing) (no apt-get here: install the C compiler, pkg-config and the development files of libcurl, libarchive, cJSON, cairo and OpenSSL, then run make again)" >&2
    exit 1
fi
if [ -n "$unknown" ]; then
    echo "augprobe build: missing:$(printf ' %s' $missing); no Debian package is known for:$unknown" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    sudo=
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo "
else
    echo "augprobe build: missing: $missing; install them as root: apt-get install -y --no-install-recommends $debs" >&2
    exit 1
fi
cmd="${sudo}apt-get install -y --no-install-recommends $debs"

if [ "$no_install" = 1 ]; then
    echo "augprobe build: missing: $missing; to install them: $cmd" >&2
    echo "augprobe build: NO_INSTALL=1: nothing installed; run that command, or make without NO_INSTALL" >&2
    exit 1
fi

echo "augprobe build: missing: $missing; installing them: $cmd" >&2
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
do_install() {
    # shellcheck disable=SC2086
    { DEBIAN_FRONTEND=noninteractive ${sudo}apt-get install -y --no-install-recommends $debs 2>&1
      echo $? >"$log.rc"; } | tee "$log" >&2
    rc=$(cat "$log.rc" 2>/dev/null || echo 1)
    rm -f "$log.rc"
    return "$rc"
}
if ! do_install; then
    # No package lists yet (a fresh machine or container), or stale ones.
    if grep -qE "Unable to locate package|has no installation candidate|404 +Not Found|Failed to fetch" "$log"; then
        echo "augprobe build: the package lists are missing or stale: ${sudo}apt-get update" >&2
        if ! ${sudo}apt-get update >&2; then
            echo "augprobe build: ${sudo}apt-get update failed; install by hand: $cmd" >&2
            exit 1
        fi
        echo "augprobe build: $cmd" >&2
        do_install || { echo "augprobe build: the install failed: $cmd" >&2; exit 1; }
    else
        echo "augprobe build: the install failed: $cmd" >&2
        exit 1
    fi
fi
check "$@"
if [ -n "$missing" ]; then
    echo "augprobe build: still missing after the install:$(printf ' %s' $missing)" >&2
    exit 1
fi
exit 0
