#!/bin/sh
# Installs what the tests need on a fresh Debian machine (as root, or with
# sudo): OpenIPMI's ipmi_sim and sdrcomp, ipmitool and freeipmi for
# cross-checks, libvirt's headers for the libvirt adapter (cgo), and for
# the real-guest tests (go test -run 'QEMU|KVM') QEMU, qemu-img, Debian's
# cloud kernel and busybox-static (the guests are built from these at test
# time), libvirt's QEMU driver and the user libvirt-qemu it runs guests as.
# It starts no daemon: the tests start the ones they need.
# It does nothing when everything is already there.
set -eu
pkgs="openipmi ipmitool freeipmi-tools libvirt-dev libvirt0 libvirt-daemon pkg-config
qemu-system-x86 qemu-utils busybox-static linux-image-cloud-amd64
libvirt-daemon-driver-qemu libvirt-clients etcd-server"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ -n "$missing" ]; then
	echo "installing:$missing" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# libvirt's QEMU driver refuses to load without its user (Debian's
# libvirt-daemon-system creates it; that package also starts services).
getent group libvirt-qemu >/dev/null || $sudo groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
	$sudo useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
exit 0
