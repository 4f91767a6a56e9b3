package qemurig

// guestInit is the guest's /init (busybox sh, PID 1). It loads the
// modules the Debian cloud kernel keeps outside itself, then:
//   - reads the counter its disk holds (sector 0 of /dev/vda, "guest-counter
//     BOOT TICK", NUL-padded) and prints "boot B from N": B counts cold
//     boots, so a restore from memory prints no boot line;
//   - waits on the ACPI power button's input device in the background and
//     powers off when it is pressed ("power button", then poweroff), unless
//     the kernel command line says nobutton=1 (a guest that ignores it);
//   - every $tick seconds (kernel command line tick=..., default 1) writes
//     the next counter to the disk with fsync, then prints "tick N boot B"
//     on the serial console, so a printed tick is always on the disk.
//
// @MODULES@ is replaced by the modules to load, in order.
const guestInit = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in @MODULES@; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
boot=1
n=0
if [ -b /dev/vda ]; then
	set -- $(dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\000')
	if [ "$1" = guest-counter ]; then boot=$(($2+1)); n=$3; fi
else
	echo "no disk /dev/vda"
fi
echo "boot $boot from $n"
pb=""
for d in /sys/class/input/event*; do
	[ "$(cat $d/device/name 2>/dev/null)" = "Power Button" ] && pb=/dev/input/${d##*/}
done
i=0
while [ -n "$pb" ] && [ ! -c "$pb" ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done
if [ -n "$nobutton" ]; then
	echo "ignoring the power button"
elif [ -c "$pb" ]; then
	(dd if=$pb bs=24 count=1 >/dev/null 2>&1 && echo "power button" && sync && poweroff -f) &
else
	echo "no power button"
fi
while :; do
	n=$((n+1))
	[ -b /dev/vda ] && echo "guest-counter $boot $n" | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null
	echo "tick $n boot $boot"
	sleep ${tick:-1}
done
`
