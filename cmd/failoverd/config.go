package main

// Config is the whole rack's configuration, one YAML file that every
// process of the rack reads (the rack manager and each server's monitor).
// The schema is documented in README.md ("Configuration file") and shown
// in testdata/pair.yaml and testdata/ring4.yaml. Durations are strings in
// Go's time.ParseDuration form ("1s", "250ms"); an unset value takes the
// library's default. Secrets never appear in the file: every password
// comes from password_file or password_env.
type Config struct {
	// File is the path the config was read from, for messages.
	File string `yaml:"-"`
	// pos places errors found after loading (file:line:field).
	pos *checker

	// Topology is "pairs" (servers 1+2, 3+4, ... watch each other) or
	// "ring" (each server watches the next). Required.
	Topology string `yaml:"topology"`
	// Self names this process's server when -server is not given.
	Self string `yaml:"self"`
	// Servers of the rack, in topology order. Required.
	Servers []ServerConfig `yaml:"servers"`
	// RackManager says where the rack manager listens and how it polls.
	RackManager RackManagerConfig `yaml:"rack_manager"`
	// ImageStore is the shared VM image database.
	ImageStore ImageStoreConfig `yaml:"image_store"`
	// Etcd is the etcd cluster the rack shares (etcd.go): the image store
	// of kind etcd and the monitors' leases live there. Optional.
	Etcd EtcdConfig `yaml:"etcd"`
	// Lease gates each monitor's watchdog kicks on an etcd lease, so a
	// watcher may take over a server whose BMC died with it (lease.go of
	// the library; README "Takeover after total power loss"). Optional.
	Lease LeaseConfig `yaml:"lease"`
	// TLS: the CA every process trusts; each process's own certificate
	// is set on its section (rack_manager.tls, servers[].tls).
	TLS TLSConfig `yaml:"tls"`
	// Operator is the certificate `failoverd status` presents (optional;
	// `status -server NAME` uses that server's instead).
	Operator CertPair `yaml:"operator"`
	// Monitor tunes every server's monitor.
	Monitor MonitorConfig `yaml:"monitor"`
	// Policy overrides failover.DefaultPolicy() field by field.
	Policy PolicyConfig `yaml:"policy"`
	// Log says how every process logs.
	Log LogConfig `yaml:"log"`
	// MetricsAddr, when set, is the host:port where each process serves
	// Prometheus metrics at /metrics over plain HTTP (metrics.go).
	MetricsAddr string `yaml:"metrics_addr"`
	// Demo holds what only `failoverd demo` sets (the simulator's socket).
	Demo DemoConfig `yaml:"demo"`
}

// ServerConfig is one server of the rack.
type ServerConfig struct {
	// Name as in the topology and in the server's certificate. Required.
	Name string `yaml:"name"`
	// BMC the rack manager polls and powers.
	BMC BMCConfig `yaml:"bmc"`
	// Hypervisor of this server: its monitor starts backups here, and the
	// watchers reach it (remote_uri/url) to evacuate it.
	Hypervisor HypervisorConfig `yaml:"hypervisor"`
	// Watchdog the server's monitor kicks in-band.
	Watchdog WatchdogConfig `yaml:"watchdog"`
	// TLS is this server's monitor's certificate (its name in a DNS SAN).
	TLS CertPair `yaml:"tls"`
}

// BMCConfig is how the rack manager reaches a server's BMC.
type BMCConfig struct {
	// Kind is "ipmi", "redfish" or "sim" (the demo's simulator only).
	Kind string `yaml:"kind"`
	// Address is an IPMI BMC's host[:port] (port default 623).
	Address string `yaml:"address"`
	// URL is a Redfish service's https://host[:port].
	URL string `yaml:"url"`
	// User on the BMC.
	User string `yaml:"user"`
	// Password is refused: a literal secret in the file is an error.
	Password *string `yaml:"password"`
	// PasswordFile holds the password (trailing newline dropped).
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// CipherSuite for IPMI: 17 (default) or 3; 0 and other insecure
	// suites are refused.
	CipherSuite *int `yaml:"cipher_suite"`
	// CAFile is the PEM CA bundle a Redfish BMC's certificate is checked
	// against (default: system roots).
	CAFile string `yaml:"ca_file"`
	// System is the Redfish ComputerSystem Id (default: the only one).
	System string `yaml:"system"`
	// Timeout bounds one IPMI exchange or Redfish request.
	Timeout string `yaml:"timeout"`
	// WatchdogPretimeout: ipmi_sim needs it (see ipmibmc.Config).
	WatchdogPretimeout bool `yaml:"watchdog_pretimeout"`
}

// HypervisorConfig is a server's VM manager.
type HypervisorConfig struct {
	// Kind is "libvirt", "vsphere" or "sim" (the demo's simulator only).
	Kind string `yaml:"kind"`
	// URI is libvirt's connection URI on this server (qemu:///system).
	URI string `yaml:"uri"`
	// RemoteURI is how the other servers' monitors reach this libvirt to
	// evacuate it (qemu+tls://s1/system). Empty: peers cannot reach it,
	// so it is fenced and cold-started instead of evacuated.
	RemoteURI string `yaml:"remote_uri"`
	// CheckpointDir is shared storage for libvirt's saved memory; empty
	// disables checkpoints (no evacuation from this server).
	CheckpointDir string `yaml:"checkpoint_dir"`
	// ImageDirs are the directories stored domain XML may name disks in
	// (default /var/lib/libvirt/images).
	ImageDirs []string `yaml:"image_dirs"`
	// URL of vCenter's SDK (https://vcenter/sdk) for kind vsphere.
	URL string `yaml:"url"`
	// User, PasswordFile, PasswordEnv log in to vCenter.
	User         string  `yaml:"user"`
	Password     *string `yaml:"password"`
	PasswordFile string  `yaml:"password_file"`
	PasswordEnv  string  `yaml:"password_env"`
	// Datacenter and Host name this ESXi host in vCenter's inventory.
	Datacenter string `yaml:"datacenter"`
	Host       string `yaml:"host"`
	// Thumbprint pins vCenter's certificate (SHA-1/SHA-256, colon hex).
	Thumbprint string `yaml:"thumbprint"`
	// CAFile is a PEM bundle vCenter's certificate is checked against.
	CAFile string `yaml:"ca_file"`
	// Datastores backups may live on (required for vsphere).
	Datastores []string `yaml:"datastores"`
}

// WatchdogConfig is the watchdog a server's monitor kicks.
type WatchdogConfig struct {
	// Kind is "ipmi-inband" (/dev/ipmi0 through the Linux IPMI driver,
	// the default), "ipmi-lan" (the server's IPMI BMC over the network,
	// with the bmc section's credentials), "sim" (the demo) or "none".
	Kind string `yaml:"kind"`
	// Timeout armed on the BMC (default 30s).
	Timeout string `yaml:"timeout"`
	// Interval between kicks (default timeout/3).
	Interval string `yaml:"interval"`
	// Action on expiry: "power-down" (default), "power-cycle", "hard-reset".
	Action string `yaml:"action"`
	// StallAfter: the monitor's loop must have taken a waiting status
	// within this long, or kicks stop (default timeout/2).
	StallAfter string `yaml:"stall_after"`
}

// RackManagerConfig is the rack manager's service.
type RackManagerConfig struct {
	// Listen is the address it serves on (host:port). Required.
	Listen string `yaml:"listen"`
	// URL the monitors reach it at (https://host:port). Required.
	URL string `yaml:"url"`
	// ServerName its certificate must carry (default: the URL's host).
	ServerName string `yaml:"server_name"`
	// TLS is the rack manager's own certificate.
	TLS CertPair `yaml:"tls"`
	// Operators are certificate names allowed the read-only rack view.
	Operators []string `yaml:"operators"`
	// Interval, FastInterval, CallTimeout, PowerTimeout, HandoverAfter
	// and StormWindow override rack.DefaultLocalConfig().
	Interval      string `yaml:"interval"`
	FastInterval  string `yaml:"fast_interval"`
	CallTimeout   string `yaml:"call_timeout"`
	PowerTimeout  string `yaml:"power_timeout"`
	HandoverAfter string `yaml:"handover_after"`
	StormWindow   string `yaml:"storm_window"`
	// JournalSize is how many statuses each server's journal keeps.
	JournalSize int `yaml:"journal_size"`
	// JournalDir, when set, also writes each server's journal to
	// DIR/SERVER.jsonl in the telemetry format, rotated past
	// JournalMaxBytes (default 64 MiB) keeping JournalKeep (default 4)
	// older files; see journal.go.
	JournalDir      string `yaml:"journal_dir"`
	JournalMaxBytes int64  `yaml:"journal_max_bytes"`
	JournalKeep     int    `yaml:"journal_keep"`
	// AuditFile receives the audit log of every power action as JSON
	// lines (default: the process log).
	AuditFile string `yaml:"audit_file"`
	// Page is the live page for operators (page.go).
	Page PageConfig `yaml:"page"`
	// Replicas, when set, are the URLs (https://host:port) of every rack
	// manager replica: the replicas elect a leader through the etcd
	// section (rack/rackelect) and monitors try them all to find it.
	// Every replica's certificate must carry server_name (or url's host).
	// Empty: one rack manager, at url. See README "Rack manager replicas".
	Replicas []string `yaml:"replicas"`
	// AdvertiseURL is this replica's own URL, one of replicas: what the
	// followers tell monitors when it leads. Default url.
	AdvertiseURL string `yaml:"advertise_url"`
	// ElectionTTL is the replicas' etcd session TTL, whole seconds: a
	// leader that dies or loses etcd is replaced about this long later.
	// Default 5s.
	ElectionTTL string `yaml:"election_ttl"`
}

// ImageStoreConfig is the VM image database.
type ImageStoreConfig struct {
	// Kind is "file" (a directory on storage every server mounts) or
	// "etcd" (imagestore/etcdstore in the etcd section's cluster, under
	// its prefix).
	Kind string `yaml:"kind"`
	// Dir of the file store. Required for kind file.
	Dir string `yaml:"dir"`
}

// EtcdConfig is how every process reaches the rack's etcd cluster. It
// speaks mutual TLS to etcd: https endpoints, each process presenting its
// own certificate (servers[].tls, rack_manager.tls) unless tls.cert and
// tls.key name another, and etcd's certificate verified against tls.ca
// (default the rack's tls.ca). Plain http is refused unless
// insecure_plaintext is set, and then no password may be sent.
type EtcdConfig struct {
	// Endpoints are the cluster's client URLs, https://host:port.
	// Required when the section is used.
	Endpoints []string `yaml:"endpoints"`
	// Prefix is where this rack's keys live ("/rackha/rack-7/"): starts
	// and ends with "/", and no other rack's prefix may start with it.
	// Required: two racks on one default prefix would share server names.
	Prefix string `yaml:"prefix"`
	// DialTimeout bounds one connection attempt and the login (5s).
	DialTimeout string `yaml:"dial_timeout"`
	// RequestTimeout bounds each call to etcd (5s).
	RequestTimeout string `yaml:"request_timeout"`
	// TLS: the client certificate and the CA of etcd's certificate.
	TLS EtcdTLSConfig `yaml:"tls"`
	// InsecurePlaintext allows http:// endpoints: no encryption, no
	// authentication of either end. For a lab or loopback only.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// Username for etcd's own auth, with PasswordFile or PasswordEnv;
	// empty: none (the client certificate's CN is the etcd user then,
	// when etcd runs with --client-cert-auth).
	Username     string  `yaml:"username"`
	Password     *string `yaml:"password"`
	PasswordFile string  `yaml:"password_file"`
	PasswordEnv  string  `yaml:"password_env"`
}

// used: the file has an etcd section.
func (e EtcdConfig) used() bool {
	return len(e.Endpoints) > 0 || e.Prefix != "" || e.DialTimeout != "" || e.RequestTimeout != "" || e.TLS != (EtcdTLSConfig{}) ||
		e.InsecurePlaintext || e.Username != "" || e.Password != nil || e.PasswordFile != "" || e.PasswordEnv != ""
}

// EtcdTLSConfig is the client side of mutual TLS to etcd (PEM files).
type EtcdTLSConfig struct {
	// CA verifies etcd's certificate (default: the rack's tls.ca).
	CA string `yaml:"ca"`
	// Cert and Key: the client certificate every process reading this
	// file presents (default: each process its own, servers[].tls or
	// rack_manager.tls). The CA must verify it too.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// LeaseConfig is the monitors' etcd lease (needs the etcd section).
type LeaseConfig struct {
	// Enabled: each monitor holds a lease and kicks its watchdog only
	// while the lease is alive; watchers may take a server over by lease.
	Enabled bool `yaml:"enabled"`
	// TTL of each monitor's lease, whole seconds, at least 2s (10s).
	TTL string `yaml:"ttl"`
	// DriftMargin is failover.Policy.LeaseDriftMargin: what the watcher
	// adds to TTL + watchdog timeout. At least every server's kick call
	// timeout (watchdog interval/2) plus 0.1% of TTL + watchdog timeout;
	// unset: the larger of that and the library's default (5s).
	DriftMargin string `yaml:"drift_margin"`
}

// TLSConfig holds the CA every process trusts.
type TLSConfig struct {
	// CA is the PEM file of the rack's CA. Required.
	CA string `yaml:"ca"`
}

// CertPair is one process's certificate and key (PEM files).
type CertPair struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// MonitorConfig tunes the monitors.
type MonitorConfig struct {
	// ActionTimeout bounds each store, hypervisor and power call.
	ActionTimeout string `yaml:"action_timeout"`
	// TickInterval lets time pass in the engine.
	TickInterval string `yaml:"tick_interval"`
}

// PolicyConfig overrides failover.DefaultPolicy(); unset fields keep the
// default. Names are Policy's fields in snake case.
type PolicyConfig struct {
	DebouncePolls         *int     `yaml:"debounce_polls"`
	DebounceDwell         string   `yaml:"debounce_dwell"`
	MaxStatusGap          string   `yaml:"max_status_gap"`
	StatusTimeout         string   `yaml:"status_timeout"`
	FastDwell             string   `yaml:"fast_dwell"`
	DangerLevel           string   `yaml:"danger_level"`
	Hysteresis            *float64 `yaml:"hysteresis"`
	ZeroVolts             *float64 `yaml:"zero_volts"`
	UnreachableAlertPolls *int     `yaml:"unreachable_alert_polls"`
	EvacuationTimeout     string   `yaml:"evacuation_timeout"`
	FenceAttempts         *int     `yaml:"fence_attempts"`
	FenceSettle           string   `yaml:"fence_settle"`
	MaxParallelStarts     *int     `yaml:"max_parallel_starts"`
	StormFraction         *float64 `yaml:"storm_fraction"`
	StartAttempts         *int     `yaml:"start_attempts"`
	RetryInterval         string   `yaml:"retry_interval"`
	RecoveryTimeout       string   `yaml:"recovery_timeout"`
	Evacuate              *bool    `yaml:"evacuate"`
}

// LogConfig says how a process logs.
type LogConfig struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
	// Events: each monitor event is also written on stdout as one JSON
	// line with the pid of the process (the demo merges them). Default
	// false.
	Events bool `yaml:"events"`
}

// DemoConfig is set by `failoverd demo` only.
type DemoConfig struct {
	// Socket of the demo's simulator (kind sim BMCs, hypervisors and
	// watchdogs reach it there).
	Socket string `yaml:"socket"`
}
