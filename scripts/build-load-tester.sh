#!/usr/bin/env bash
# Build strongSwan's charon with the load-tester plugin into a private prefix, for
# bench/responder-compare.ts --client load-tester and bench/setup-rate-compare.ts.
#
# Debian's binary packages do not ship the load-tester plugin; Debian's source package has it.
# This script (Debian 12, as root):
#   1. adds deb-src entries for the same mirror and suites as the existing deb entries
#      (/etc/apt/sources.list.d/pqike-deb-src.sources, made from debian.sources or sources.list),
#      and runs apt-get update once, only when `apt-cache showsrc strongswan` knows no source;
#   2. installs the few build dependencies that this configuration needs (build-essential,
#      pkg-config, libssl-dev, libgmp-dev, dpkg-dev), only those missing; no `apt-get build-dep`
#      (that would pull ~100 packages for plugins the benchmark does not use);
#   3. `apt-get source strongswan=VERSION` into $CACHE/src: the version of the installed
#      strongswan-charon when the mirror has its source, else the newest source it has (on this
#      machine: 5.9.8-5+deb12u6 is installed from bookworm-security, whose pool has no source for
#      it, so 5.9.8-5+deb12u5 from bookworm is built: the same upstream 5.9.8 and Debian patches
#      less one security fix);
#   4. configures with --disable-defaults and only the plugins the benchmark needs (load-tester,
#      openssl: AES-GCM, SHA-2 PRFs, X25519, RSA for the load-tester's built-in CA; curve25519,
#      aes, sha2, hmac, gcm, kdf, random, nonce, pem, pkcs1, x509, pubkey, socket-default,
#      kernel-netlink), with Debian's CFLAGS (dpkg-buildflags: -O2 ...), so that it computes as
#      Debian's charon does; builds with make -j$(nproc) and installs into $CACHE/prefix.
#      Its PID file and sockets go to $CACHE/run, so it never collides with Debian's charon;
#      nothing under /usr or /etc is touched besides the deb-src entry (Debian's strongswan-charon
#      package, /usr/lib/ipsec/charon, which the interop tests use, stays as it is).
#   5. writes $CACHE/prefix/.pqike-built (the version and configure line): a later run with the
#      same ones only prints the path of the charon binary and exits (well under a second).
#
# Prints the path of the built charon binary as its last line of stdout:
#   $CACHE/prefix/libexec/ipsec/charon
# Run it with STRONGSWAN_CONF=<a strongswan.conf> (the bench scripts do); its plugins are in
# $CACHE/prefix/lib/ipsec/plugins, its libraries found through the RUNPATH set by libtool.
#
# Environment: PQIKE_LOAD_TESTER_CACHE (default /var/cache/pqike-load-tester),
#   PQIKE_LOAD_TESTER_JOBS (default nproc), PQIKE_LOAD_TESTER_REBUILD=1 (ignore the stamp).
#
# Time taken here (2 cores shared with other jobs, Debian 12, 2026-12-02): 50 s in all from
# nothing (apt-get update and apt-get source 4 s, configure about 15 s, make -j2 about 30 s,
# install 2 s; no package had to be installed); an already built run: 0.01 s.
set -euo pipefail

CACHE="${PQIKE_LOAD_TESTER_CACHE:-/var/cache/pqike-load-tester}"
PREFIX="$CACHE/prefix"
RUNDIR="$CACHE/run"
SRCROOT="$CACHE/src"
JOBS="${PQIKE_LOAD_TESTER_JOBS:-$(nproc)}"
STAMP="$PREFIX/.pqike-built"
CHARON="$PREFIX/libexec/ipsec/charon"

log() { printf 'build-load-tester: %s\n' "$*" >&2; }

PLUGINS=(load-tester openssl curve25519 aes sha2 hmac gcm kdf random nonce pem pkcs1 x509 pubkey socket-default kernel-netlink)
CONFIGURE_ARGS=(
  --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" --with-piddir="$RUNDIR"
  --disable-defaults --enable-charon --enable-ikev2 --disable-ikev1
  --disable-scripts --disable-dependency-tracking --enable-silent-rules
)
for p in "${PLUGINS[@]}"; do CONFIGURE_ARGS+=("--enable-$p"); done

if [ "$(id -u)" -ne 0 ]; then
  log "needs root (apt-get)"
  exit 2
fi

# Quick path: already built with this configuration.
if [ -z "${PQIKE_LOAD_TESTER_REBUILD:-}" ] && [ -x "$CHARON" ] && [ -f "$STAMP" ] \
  && [ "$(sed -n 2p "$STAMP")" = "${CONFIGURE_ARGS[*]}" ]; then
  log "already built: $(sed -n 1p "$STAMP")"
  echo "$CHARON"
  exit 0
fi

start=$(date +%s)

# 1. deb-src for the mirror(s) of the deb entries.
DEBSRC=/etc/apt/sources.list.d/pqike-deb-src.sources
if ! apt-cache showsrc strongswan 2>/dev/null | grep -q '^Package: strongswan'; then
  if [ ! -f "$DEBSRC" ]; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      # deb822: the same stanzas with Types: deb-src.
      sed -n 's/^Types: .*deb\b.*/Types: deb-src/;p' /etc/apt/sources.list.d/debian.sources >"$DEBSRC"
    elif [ -f /etc/apt/sources.list ]; then
      # one-line format: each "deb URI SUITE COMPONENTS" as deb-src, in the deb822 file.
      DEBSRC=/etc/apt/sources.list.d/pqike-deb-src.list
      grep -E '^deb\s' /etc/apt/sources.list | sed 's/^deb\s/deb-src /' >"$DEBSRC"
    else
      log "no Debian apt source found to copy (neither debian.sources nor sources.list)"
      exit 1
    fi
    log "added $DEBSRC"
  fi
  log "apt-get update"
  apt-get update -q >&2
fi

# 2. Build dependencies of this configuration only.
need=()
for pkg in build-essential pkg-config libssl-dev libgmp-dev dpkg-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi

# 3. The source: the installed charon's version when the mirror has it, else the newest.
installed="$(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || true)"
mapfile -t versions < <(apt-cache showsrc strongswan | sed -n 's/^Version: //p' | sort -Vr | uniq)
mkdir -p "$SRCROOT"
cd "$SRCROOT"
srcdir=""
tried=()
for v in ${installed:+"$installed"} "${versions[@]}"; do
  case " ${tried[*]-} " in *" $v "*) continue ;; esac
  tried+=("$v")
  upstream="${v#*:}"
  upstream="${upstream%%-*}"
  if [ -f "$SRCROOT/.fetched-$v" ] && [ -d "$SRCROOT/strongswan-$upstream" ]; then
    srcdir="$SRCROOT/strongswan-$upstream"
    version="$v"
    break
  fi
  rm -rf "$SRCROOT/strongswan-$upstream"
  log "apt-get source strongswan=$v"
  if apt-get source -q "strongswan=$v" >&2; then
    touch "$SRCROOT/.fetched-$v"
    srcdir="$SRCROOT/strongswan-$upstream"
    version="$v"
    break
  fi
  log "no source for $v on the mirror"
done
if [ -z "$srcdir" ] || [ ! -x "$srcdir/configure" ]; then
  log "could not fetch strongSwan's source package (tried: ${tried[*]-})"
  exit 1
fi
[ "$version" = "$installed" ] || log "building $version (installed strongswan-charon: ${installed:-none})"

# 4. Configure, build, install into the private prefix.
cd "$srcdir"
export CFLAGS="$(dpkg-buildflags --get CFLAGS)" LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
log "configure ${CONFIGURE_ARGS[*]}"
./configure "${CONFIGURE_ARGS[@]}" >"$CACHE/configure.log" 2>&1 || { tail -30 "$CACHE/configure.log" >&2; exit 1; }
log "make -j$JOBS (log: $CACHE/make.log)"
make -j"$JOBS" >"$CACHE/make.log" 2>&1 || { tail -30 "$CACHE/make.log" >&2; exit 1; }
rm -rf "$PREFIX"
make install >"$CACHE/install.log" 2>&1 || { tail -30 "$CACHE/install.log" >&2; exit 1; }
mkdir -p "$RUNDIR"
if [ ! -f "$PREFIX/lib/ipsec/plugins/libstrongswan-load-tester.so" ]; then
  log "the load-tester plugin was not installed"
  exit 1
fi

# 5. The stamp.
printf '%s\n%s\n' "strongswan $version, built $(date -u +%FT%TZ) in $(($(date +%s) - start)) s" "${CONFIGURE_ARGS[*]}" >"$STAMP"
log "built in $(($(date +%s) - start)) s: $CHARON"
echo "$CHARON"
