#!/bin/sh
# Installs what the tests need on a fresh Debian machine (as root, or with
# sudo): OpenIPMI's ipmi_sim and sdrcomp, ipmitool and freeipmi for
# cross-checks, libvirt's headers for the libvirt adapter (cgo), and
# chromium for the operator page's browser tests (headless, driven by chromedp).
# It does nothing when everything is already there.
set -eu
pkgs="openipmi ipmitool freeipmi-tools libvirt-dev libvirt0 libvirt-daemon pkg-config chromium"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
