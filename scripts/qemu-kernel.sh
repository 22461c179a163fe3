#!/usr/bin/env bash
# Prepare the kernel cache for the qemu test harness (test/qemu).
#
# Idempotent: when the cache is complete it only checks it and prints the
# manifest. Otherwise (as root) it installs the Debian packages that are
# missing, downloads the newest linux-image-6.1.0-*-amd64 package with
# `apt-get download`, unpacks it with `dpkg -x`, runs depmod on its module
# tree, cuts the uncompressed vmlinux (PVH ELF, boots with qemu -kernel) out
# of vmlinuz's xz payload and builds a busybox initramfs (cpio) whose /init
# loads virtio/9p/overlay, mounts the host root (9p, read-only) under a tmpfs
# overlay and runs the per-run stage-2 script (see test/qemu/vm.ts).
#
# Cache dir: $PQIKE_QEMU_CACHE, default /var/cache/pqike-qemu. Layout:
#   kernel/               dpkg -x of the kernel package (boot/, lib/modules/KVER/)
#   vmlinux               uncompressed kernel (ELF with a PVH entry note)
#   initramfs.cpio        busybox + stage-1 modules + /init
#   libreswan/            dpkg -x of the libreswan package (not installed on the host)
#   manifest.env          KVER=, PKG=, VMLINUX=, INITRAMFS=, MODDIR=, CACHE=, LIBRESWAN=, LIBRESWAN_VERSION=
# Prints the manifest on stdout; logs to stderr. Exit 0 only when complete.
set -euo pipefail

CACHE="${PQIKE_QEMU_CACHE:-/var/cache/pqike-qemu}"
DEB_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils)
# libreswan is NOT installed as a package: Debian's libreswan conflicts with
# strongswan-libcharon/strongswan-starter (both provide ike-server), and the
# interop tests need charon on the host. Its .deb is unpacked into the cache
# instead (CACHE/libreswan) and bind-mounted over /usr/libexec/ipsec and
# /usr/sbin/ipsec inside the guest (test/qemu/vm.ts). These are its run-time
# dependencies (pluto, whack, addconn; certutil for `ipsec initnss`).
LIBRESWAN_DEPS=(libnss3 libnss3-tools libnspr4 libcurl3-nss libevent-core-2.1-7 libevent-pthreads-2.1-7
  libldns3 libunbound8 libcap-ng0 libaudit1 libldap-2.5-0 libpam0g libselinux1 libsystemd0 libcrypt1 dns-root-data)
DEB_PACKAGES+=("${LIBRESWAN_DEPS[@]}")
# Modules /init loads before the root exists (dependencies are added by modprobe --show-depends).
STAGE1_MODULES=(virtio_pci 9pnet_virtio 9p overlay virtio_rng)

log() { printf '[qemu-kernel] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -f "$CACHE/manifest.env" ]]; then
  # shellcheck disable=SC1091
  if (source "$CACHE/manifest.env" && [[ -f $VMLINUX && -f $INITRAMFS && -f $MODDIR/modules.dep && -x $LIBRESWAN/usr/libexec/ipsec/pluto ]]) \
    && command -v qemu-system-x86_64 >/dev/null && command -v busybox >/dev/null; then
    cat "$CACHE/manifest.env"
    exit 0
  fi
fi

is_root() { [[ $(id -u) -eq 0 ]]; }
apt_updated=0
apt_update_once() {
  if ((apt_updated == 0)); then
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -q >&2
    apt_updated=1
  fi
}

# 1. Debian packages
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  is_root || die "packages missing (${missing[*]}) and not root"
  export DEBIAN_FRONTEND=noninteractive
  log "installing ${missing[*]}"
  if ! apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >&2; then
    apt_update_once
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# 2. kernel package (newest linux-image-6.1.0-N-amd64)
pick_pkg() {
  local dep
  dep=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1)
  if [[ -z $dep ]]; then
    dep=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n1 || true)
  fi
  printf '%s' "$dep"
}
KDIR="$CACHE/kernel"
KVER=""
if [[ -d $KDIR/lib/modules ]]; then
  KVER=$(find "$KDIR/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n1)
  [[ -n $KVER && -f $KDIR/boot/vmlinuz-$KVER ]] || KVER=""
fi
if [[ -z $KVER ]]; then
  PKG=$(pick_pkg)
  if [[ -z $PKG ]]; then
    is_root || die "no linux-image-6.1.0-*-amd64 known to apt and not root (apt-get update)"
    apt_update_once
    PKG=$(pick_pkg)
  fi
  [[ -n $PKG ]] || die "no linux-image-6.1.0-*-amd64 package found"
  log "downloading $PKG"
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  # apt-get download drops privileges to _apt; the directory must be writable for it.
  chmod 0777 "$tmp"
  (cd "$tmp" && apt-get download -q "$PKG" >&2) || {
    is_root && { apt_update_once; (cd "$tmp" && apt-get download -q "$PKG" >&2); }
  }
  deb=$(find "$tmp" -name '*.deb' | head -n1)
  [[ -n $deb ]] || die "apt-get download $PKG produced no .deb"
  log "unpacking $(basename "$deb")"
  rm -rf "$KDIR.new"
  dpkg -x "$deb" "$KDIR.new"
  rm -rf "$tmp" "$KDIR"
  mv "$KDIR.new" "$KDIR"
  KVER=${PKG#linux-image-}
  [[ -f $KDIR/boot/vmlinuz-$KVER ]] || die "package $PKG has no boot/vmlinuz-$KVER"
  rm -f "$CACHE/vmlinux" "$CACHE/initramfs.cpio" "$CACHE/manifest.env"
fi
PKG="linux-image-$KVER"
MODDIR="$KDIR/lib/modules/$KVER"

# 3. depmod
if [[ ! -f $MODDIR/modules.dep ]]; then
  log "depmod $KVER"
  depmod -b "$KDIR" "$KVER"
fi

# 4. vmlinux: xz payload of the bzImage, decompressed (ELF with XEN_ELFNOTE_PHYS32_ENTRY: qemu boots it as PVH)
if [[ ! -f $CACHE/vmlinux ]]; then
  vmlinuz="$KDIR/boot/vmlinuz-$KVER"
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1 || true)
  [[ -n $off ]] || die "no xz payload in $vmlinuz"
  log "extracting vmlinux (xz payload at offset $off)"
  # xz stops reading at the end of its stream, so tail may die of SIGPIPE: only xz's status counts
  set +o pipefail
  tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream >"$CACHE/vmlinux.new"
  xz_rc=${PIPESTATUS[1]}
  set -o pipefail
  ((xz_rc == 0)) || die "xz -dc failed ($xz_rc)"
  [[ $(head -c 4 "$CACHE/vmlinux.new" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]] || die "extracted vmlinux is not an ELF file"
  mv "$CACHE/vmlinux.new" "$CACHE/vmlinux"
fi

# 5. initramfs
if [[ ! -f $CACHE/initramfs.cpio ]]; then
  log "building initramfs"
  ird=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lower,upper,mods}
  cp "$(command -v busybox)" "$ird/bin/busybox"
  ln -s busybox "$ird/bin/sh"
  order=()
  for m in "${STAGE1_MODULES[@]}"; do
    while read -r kind path _; do
      [[ $kind == insmod ]] || continue
      name=$(basename "$path")
      local_seen=0
      for o in "${order[@]+"${order[@]}"}"; do [[ $o == "$name" ]] && local_seen=1; done
      if ((local_seen == 0)); then
        cp "$path" "$ird/mods/$name"
        order+=("$name")
      fi
    done < <(modprobe -d "$KDIR" -S "$KVER" --show-depends "$m")
  done
  printf '%s\n' "${order[@]}" >"$ird/mods/order"
  cat >"$ird/init" <<'EOF'
#!/bin/sh
# pqike qemu harness, stage 1 (initramfs): modules, 9p host root (ro) + tmpfs overlay, then stage 2.
export PATH=/bin
B=/bin/busybox
fail() { echo "PQIKE-VM-STAGE1-FAILED: $*"; echo o >/proc/sysrq-trigger; $B sleep 60; }
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /mods/order); do $B insmod /mods/$m || fail "insmod $m"; done
upsize=$($B sed -n 's/.*pqike.upper=\([^ ]*\).*/\1/p' /proc/cmdline)
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower || fail "mount hostroot"
$B mount -t tmpfs -o "size=${upsize:-50%},mode=0755" upper /upper || fail "mount upper"
$B mkdir -p /upper/u /upper/w
$B mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot || fail "mount overlay"
R=/newroot
$B mount -t proc proc $R/proc
$B mount -t sysfs sys $R/sys
$B mount -t devtmpfs dev $R/dev
$B mkdir -p $R/dev/pts $R/dev/shm
$B mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts $R/dev/pts
$B mount -t tmpfs -o mode=1777 shm $R/dev/shm
$B mount -t tmpfs -o mode=1777 tmp $R/tmp
$B mount -t tmpfs -o mode=0755 run $R/run
$B mkdir -p $R/run/pqike-vm
$B mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 pqvm $R/run/pqike-vm || fail "mount pqvm"
$B umount /proc /sys /dev 2>/dev/null
exec $B switch_root $R /bin/sh /run/pqike-vm/stage2.sh
fail "switch_root"
EOF
  chmod 0755 "$ird/init"
  (cd "$ird" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet >"$CACHE/initramfs.cpio.new")
  rm -rf "$ird"
  mv "$CACHE/initramfs.cpio.new" "$CACHE/initramfs.cpio"
fi

# 6. libreswan (unpacked, not installed: see DEB_PACKAGES above)
LSW="$CACHE/libreswan"
if [[ ! -x $LSW/usr/libexec/ipsec/pluto ]]; then
  tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  chmod 0777 "$tmp"
  log "downloading libreswan"
  (cd "$tmp" && apt-get download -q libreswan >&2) || {
    is_root && { apt_update_once; (cd "$tmp" && apt-get download -q libreswan >&2); }
  }
  deb=$(find "$tmp" -name 'libreswan_*.deb' | head -n1)
  [[ -n $deb ]] || die "apt-get download libreswan produced no .deb"
  rm -rf "$LSW.new"
  dpkg -x "$deb" "$LSW.new"
  rm -rf "$tmp" "$LSW"
  mv "$LSW.new" "$LSW"
fi
for b in pluto whack addconn; do
  if ldd "$LSW/usr/libexec/ipsec/$b" | grep -q 'not found'; then
    die "libreswan's $b lacks libraries: $(ldd "$LSW/usr/libexec/ipsec/$b" | grep 'not found' | tr '\n' ' ')"
  fi
done

cat >"$CACHE/manifest.env.new" <<EOF
CACHE=$CACHE
KVER=$KVER
PKG=$PKG
VMLINUX=$CACHE/vmlinux
INITRAMFS=$CACHE/initramfs.cpio
MODDIR=$MODDIR
LIBRESWAN=$LSW
LIBRESWAN_VERSION=$("$LSW/usr/libexec/ipsec/pluto" --version 2>&1 | head -n1 | awk '{print $2}')
EOF
mv "$CACHE/manifest.env.new" "$CACHE/manifest.env"
log "ready: $KVER in $CACHE"
cat "$CACHE/manifest.env"
