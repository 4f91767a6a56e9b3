package libvirthv

import (
	"strings"
)

// domainAllowlist lists, one per line, every element a stored domain may
// hold (its path below <domain>) and the attributes it may carry. What is
// not listed is refused. It covers the domain XML that libvirt's QEMU and
// test drivers write for ordinary VMs (virt-install's, virsh dumpxml's and
// the XML inside save files). Paths and the constructs that reach the host
// are checked on top of it (domcheck.go); the constructs the policy may
// permit (hostdev, filesystem, interface scripts, QEMU's namespace) are
// not listed here. A repeated backingStore chain is folded into one level,
// and every device may carry <address>, <alias> and <boot> (deviceCommon).
const domainAllowlist = `
: type id
name
uuid
genid
title
description
maxMemory: slots unit
memory: unit dumpCore
currentMemory: unit
memtune
memtune/hard_limit: unit
memtune/soft_limit: unit
memtune/swap_hard_limit: unit
memtune/min_guarantee: unit
memoryBacking
memoryBacking/hugepages
memoryBacking/hugepages/page: size unit nodeset
memoryBacking/nosharepages
memoryBacking/locked
memoryBacking/source: type
memoryBacking/access: mode
memoryBacking/allocation: mode threads
memoryBacking/discard
vcpu: placement cpuset current
vcpus
vcpus/vcpu: id enabled hotpluggable order
iothreads
iothreadids
iothreadids/iothread: id
cputune
cputune/shares
cputune/period
cputune/quota
cputune/global_period
cputune/global_quota
cputune/emulator_period
cputune/emulator_quota
cputune/iothread_period
cputune/iothread_quota
cputune/vcpupin: vcpu cpuset
cputune/emulatorpin: cpuset
cputune/iothreadpin: iothread cpuset
cputune/vcpusched: vcpus scheduler priority
numatune
numatune/memory: mode nodeset placement
numatune/memnode: cellid mode nodeset
resource
resource/partition
sysinfo: type
sysinfo/bios
sysinfo/bios/entry: name
sysinfo/system
sysinfo/system/entry: name
sysinfo/baseBoard
sysinfo/baseBoard/entry: name
sysinfo/chassis
sysinfo/chassis/entry: name
sysinfo/oemStrings
sysinfo/oemStrings/entry
os: firmware
os/type: arch machine
os/loader: readonly secure type stateless format
os/nvram: template format type
os/boot: dev
os/bootmenu: enable timeout
os/smbios: mode
os/bios: useserial rebootTimeout
os/kernel
os/initrd
os/cmdline
os/dtb
os/firmware
os/firmware/feature: enabled name
features
features/acpi
features/apic: eoi
features/pae
features/hap: state
features/viridian
features/privnet
features/hyperv: mode
features/hyperv/relaxed: state
features/hyperv/vapic: state
features/hyperv/spinlocks: state retries
features/hyperv/vpindex: state
features/hyperv/runtime: state
features/hyperv/synic: state
features/hyperv/stimer: state
features/hyperv/stimer/direct: state
features/hyperv/reset: state
features/hyperv/vendor_id: state value
features/hyperv/frequencies: state
features/hyperv/reenlightenment: state
features/hyperv/tlbflush: state
features/hyperv/ipi: state
features/hyperv/evmcs: state
features/hyperv/avic: state
features/kvm
features/kvm/hidden: state
features/kvm/hint-dedicated: state
features/kvm/poll-control: state
features/kvm/pv-ipi: state
features/kvm/dirty-ring: state size
features/pvspinlock: state
features/vmport: state
features/gic: version
features/smm: state
features/smm/tseg: unit
features/ioapic: driver
features/vmcoreinfo: state
features/msrs: unknown
features/pmu: state
features/htm: state
features/async-teardown: enabled
cpu: mode match check migratable
cpu/model: fallback vendor_id
cpu/vendor
cpu/topology: sockets dies clusters cores threads
cpu/feature: policy name
cpu/numa
cpu/numa/cell: id cpus memory unit memAccess discard
cpu/cache: level mode
cpu/maxphysaddr: mode bits limit
clock: offset adjustment timezone basis
clock/timer: name track tickpolicy present frequency mode
on_poweroff
on_reboot
on_crash
on_lockfailure
pm
pm/suspend-to-mem: enabled
pm/suspend-to-disk: enabled
perf
perf/event: name enabled
seclabel: type model relabel
seclabel/label
seclabel/imagelabel
seclabel/baselabel
keywrap
keywrap/cipher: name state
devices
devices/emulator
devices/disk: type device model rawio sgio snapshot
devices/disk/driver: name type cache error_policy rerror_policy io ioeventfd event_idx copy_on_read discard detect_zeroes iothread queues queue_size
devices/disk/source: file dev index startupPolicy
devices/disk/source/seclabel: model relabel
devices/disk/source/seclabel/label
devices/disk/backingStore: type index
devices/disk/backingStore/format: type
devices/disk/backingStore/source: file dev index
devices/disk/target: dev bus tray removable rotation_rate
devices/disk/readonly
devices/disk/shareable
devices/disk/transient
devices/disk/serial
devices/disk/wwn
devices/disk/vendor
devices/disk/product
devices/disk/blockio: logical_block_size physical_block_size
devices/disk/geometry: cyls heads secs trans
devices/disk/iotune
devices/disk/iotune/total_bytes_sec
devices/disk/iotune/read_bytes_sec
devices/disk/iotune/write_bytes_sec
devices/disk/iotune/total_iops_sec
devices/disk/iotune/read_iops_sec
devices/disk/iotune/write_iops_sec
devices/disk/iotune/total_bytes_sec_max
devices/disk/iotune/read_bytes_sec_max
devices/disk/iotune/write_bytes_sec_max
devices/disk/iotune/total_iops_sec_max
devices/disk/iotune/read_iops_sec_max
devices/disk/iotune/write_iops_sec_max
devices/disk/iotune/size_iops_sec
devices/disk/iotune/group_name
devices/controller: type index model ports vectors
devices/controller/driver: queues cmd_per_lun max_sectors ioeventfd iothread
devices/controller/model: name
devices/controller/target: chassisNr chassis port busNr index node hotplug
devices/controller/master: startport
devices/controller/pcihole64: unit
devices/interface: type trustGuestRxFilters
devices/interface/mac: address
devices/interface/source: network bridge dev mode portgroup portid
devices/interface/model: type
devices/interface/target: dev managed
devices/interface/driver: name queues txmode ioeventfd event_idx rx_queue_size tx_queue_size
devices/interface/driver/host: csum gso tso4 tso6 ecn ufo mrg_rxbuf
devices/interface/driver/guest: csum tso4 tso6 ecn ufo
devices/interface/link: state
devices/interface/mtu: size
devices/interface/virtualport: type
devices/interface/virtualport/parameters: managerid typeid typeidversion instanceid profileid interfaceid
devices/interface/vlan: trunk
devices/interface/vlan/tag: id nativeMode
devices/interface/filterref: filter
devices/interface/filterref/parameter: name value
devices/interface/bandwidth
devices/interface/bandwidth/inbound: average peak burst floor
devices/interface/bandwidth/outbound: average peak burst
devices/interface/rom: bar enabled
devices/interface/coalesce
devices/interface/coalesce/rx
devices/interface/coalesce/rx/frames: max
devices/interface/guest: dev actual
devices/interface/port: isolated
devices/input: type bus model
devices/graphics: type port autoport listen passwd passwdValidTo connected keymap sharePolicy websocket tlsPort defaultMode
devices/graphics/listen: type address network
devices/graphics/gl: enable
devices/graphics/image: compression
devices/graphics/jpeg: compression
devices/graphics/zlib: compression
devices/graphics/playback: compression
devices/graphics/streaming: mode
devices/graphics/clipboard: copypaste
devices/graphics/mouse: mode
devices/graphics/filetransfer: enable
devices/graphics/channel: name mode
devices/graphics/audio: id
devices/video
devices/video/model: type vram ram vgamem heads primary vram64
devices/video/model/acceleration: accel3d accel2d
devices/video/driver: name
devices/sound: model
devices/sound/codec: type
devices/sound/audio: id
devices/audio: id type
devices/serial: type
devices/serial/source: mode path host service
devices/serial/target: type port
devices/serial/target/model: name
devices/serial/protocol: type
devices/serial/log: file append
devices/console: type tty
devices/console/source: mode path host service
devices/console/target: type port
devices/console/protocol: type
devices/console/log: file append
devices/parallel: type
devices/parallel/source: mode path host service
devices/parallel/target: port
devices/parallel/log: file append
devices/channel: type
devices/channel/source: mode path host service channel
devices/channel/target: type name state address port
devices/channel/protocol: type
devices/channel/log: file append
devices/memballoon: model autodeflate freePageReporting
devices/memballoon/stats: period
devices/memballoon/driver: iommu ats packed
devices/rng: model
devices/rng/rate: period bytes
devices/rng/backend: model type
devices/watchdog: model action
devices/tpm: model
devices/tpm/backend: type version persistent_state
devices/panic: model
devices/vsock: model
devices/vsock/cid: auto address
devices/iommu: model
devices/iommu/driver: intremap caching_mode eim iotlb aw_bits
devices/hub: type
devices/redirdev: bus type
devices/tpm/backend/active_pcr_banks
devices/tpm/backend/active_pcr_banks/sha1
devices/tpm/backend/active_pcr_banks/sha256
devices/tpm/backend/active_pcr_banks/sha384
devices/tpm/backend/active_pcr_banks/sha512
`

// deviceCommon are the children every device element may have.
const deviceCommon = `
address: type domain bus slot function multifunction controller target unit port reg cssid ssid devno iobase irq base
alias: name
boot: order loadparm
`

// allowed is one element of the allowlist.
type allowed struct {
	attrs map[string]bool
	kids  map[string]*allowed
}

// allowTree is the allowlist as a tree rooted at <domain>.
var allowTree = buildAllowTree()

func buildAllowTree() *allowed {
	root := &allowed{attrs: map[string]bool{}, kids: map[string]*allowed{}}
	add := func(at *allowed, spec string) {
		for _, line := range strings.Split(spec, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			path, attrs, _ := strings.Cut(line, ":")
			n := at
			if path = strings.TrimSpace(path); path != "" {
				for _, seg := range strings.Split(path, "/") {
					k := n.kids[seg]
					if k == nil {
						k = &allowed{attrs: map[string]bool{}, kids: map[string]*allowed{}}
						n.kids[seg] = k
					}
					n = k
				}
			}
			for _, a := range strings.Fields(attrs) {
				n.attrs[a] = true
			}
		}
	}
	add(root, domainAllowlist)
	for name, dev := range root.kids["devices"].kids {
		if name != "emulator" {
			add(dev, deviceCommon)
		}
	}
	// A backing chain is a backingStore inside a backingStore, as deep as
	// the chain is long.
	bs := root.kids["devices"].kids["disk"].kids["backingStore"]
	bs.kids["backingStore"] = bs
	return root
}
