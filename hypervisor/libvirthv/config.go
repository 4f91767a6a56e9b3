package libvirthv

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by Config.Validate.
var ErrInvalidConfig = errors.New("failover: invalid libvirt configuration")

// DiskCheck says how Start makes sure each disk of an image exists.
type DiskCheck uint8

// Disk checks.
const (
	// DiskCheckAuto checks local paths when the URI names no host and
	// asks the host's storage pools otherwise.
	DiskCheckAuto DiskCheck = iota
	// DiskCheckLocal stats each path on this machine.
	DiskCheckLocal
	// DiskCheckPool looks each path up among the host's storage volumes.
	DiskCheckPool
	// DiskCheckNone trusts the image.
	DiskCheckNone
)

func (d DiskCheck) String() string {
	switch d {
	case DiskCheckAuto:
		return "auto"
	case DiskCheckLocal:
		return "local"
	case DiskCheckPool:
		return "pool"
	case DiskCheckNone:
		return "none"
	}
	return fmt.Sprintf("diskcheck(%d)", uint8(d))
}

// Config configures a Hypervisor.
type Config struct {
	// URI is the libvirt connection URI. It may carry credentials
	// (user:password@host, or query parameters); they are never printed.
	URI string
	// CheckpointDir is a directory on storage every server reaches, where
	// Checkpoint writes saved memory. Empty disables Checkpoint.
	CheckpointDir string
	// ShutdownTimeout bounds the graceful part of Stop; after it (or when
	// the context's deadline comes near) the domain is destroyed.
	ShutdownTimeout time.Duration
	// DestroyReserve is kept from the context's deadline for the forced
	// destroy that follows a graceful shutdown that did not finish.
	DestroyReserve time.Duration
	// PollInterval is how often Stop reads the state while it waits.
	PollInterval time.Duration
	// DiskCheck says how Start checks that disks exist.
	DiskCheck DiskCheck
	// EnforceMemory makes Start refuse, with ErrNoCapacity, a VM whose
	// memory exceeds FreeCapacity (less starts under way). CPUs are not
	// enforced: hosts commonly overcommit them.
	EnforceMemory bool
	// CPUOvercommit is how many vCPUs FreeCapacity counts per host CPU.
	// 1 reports physical CPUs; hosts that overcommit CPUs set their ratio,
	// or failover refuses backups once vCPUs reach the CPU count.
	CPUOvercommit float64
	// KeepAliveInterval and KeepAliveCount make libvirt close a remote
	// connection whose peer stopped answering after about interval x
	// (count+1), so calls fail with ErrUnreachable instead of hanging.
	// They start libvirt's default event loop once per process. Zero
	// interval turns keep-alive off. Local URIs (no host, no transport)
	// ignore them.
	KeepAliveInterval time.Duration
	KeepAliveCount    uint
	// Domain says what domain XML from the image store may ask of this
	// host: the files it may name and the host-reaching constructs it
	// may use. Checkpoints resume only from under CheckpointDir.
	Domain DomainPolicy
}

// DefaultConfig returns the defaults for uri.
func DefaultConfig(uri string) Config {
	return Config{
		URI:               uri,
		CheckpointDir:     "",                     // Checkpoint disabled until set
		ShutdownTimeout:   30 * time.Second,       // guests get 30 s to shut down
		DestroyReserve:    2 * time.Second,        // then 2 s of the deadline to destroy
		PollInterval:      100 * time.Millisecond, // state read 10 times a second while stopping
		DiskCheck:         DiskCheckAuto,          // local stat, or storage pools on a remote host
		EnforceMemory:     true,                   // never start more memory than the node has free
		CPUOvercommit:     1,                      // one vCPU per host CPU thread
		KeepAliveInterval: 5 * time.Second,        // probe a silent remote peer every 5 s
		KeepAliveCount:    3,                      // and drop it after 3 unanswered probes
		Domain:            DefaultDomainPolicy(),  // disks under /var/lib/libvirt/images, nothing reaching the host
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.URI == "":
		return fmt.Errorf("%w: URI is empty", ErrInvalidConfig)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("%w: ShutdownTimeout %v is negative", ErrInvalidConfig, c.ShutdownTimeout)
	case c.DestroyReserve < 0:
		return fmt.Errorf("%w: DestroyReserve %v is negative", ErrInvalidConfig, c.DestroyReserve)
	case c.PollInterval <= 0:
		return fmt.Errorf("%w: PollInterval %v must be positive", ErrInvalidConfig, c.PollInterval)
	case c.KeepAliveInterval < 0 || (c.KeepAliveInterval > 0 && c.KeepAliveInterval < time.Second):
		return fmt.Errorf("%w: KeepAliveInterval %v must be 0 or at least 1s", ErrInvalidConfig, c.KeepAliveInterval)
	case c.KeepAliveInterval > 0 && c.KeepAliveCount == 0:
		return fmt.Errorf("%w: KeepAliveCount is 0 with KeepAliveInterval %v", ErrInvalidConfig, c.KeepAliveInterval)
	case !(c.CPUOvercommit >= 1 && c.CPUOvercommit <= 64):
		return fmt.Errorf("%w: CPUOvercommit %v must be between 1 and 64", ErrInvalidConfig, c.CPUOvercommit)
	case c.DiskCheck > DiskCheckNone:
		return fmt.Errorf("%w: DiskCheck %v is unknown", ErrInvalidConfig, c.DiskCheck)
	case c.CheckpointDir != "" && !cleanAbs(c.CheckpointDir):
		return fmt.Errorf("%w: CheckpointDir %q is not a clean absolute path", ErrInvalidConfig, c.CheckpointDir)
	}
	if err := c.Domain.validate("Domain"); err != nil {
		return err
	}
	if _, err := url.Parse(c.URI); err != nil {
		// url's error repeats the URI: name the field only.
		return fmt.Errorf("%w: URI %s does not parse", ErrInvalidConfig, redactURI(c.URI))
	}
	return nil
}

// String prints the configuration with credentials redacted.
func (c Config) String() string {
	return fmt.Sprintf("libvirthv.Config{URI:%s CheckpointDir:%q ShutdownTimeout:%v DestroyReserve:%v PollInterval:%v DiskCheck:%v EnforceMemory:%v CPUOvercommit:%v KeepAliveInterval:%v KeepAliveCount:%d Domain:%+v}",
		redactURI(c.URI), c.CheckpointDir, c.ShutdownTimeout, c.DestroyReserve, c.PollInterval, c.DiskCheck, c.EnforceMemory, c.CPUOvercommit, c.KeepAliveInterval, c.KeepAliveCount, c.Domain)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration with credentials redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("uri", redactURI(c.URI)),
		slog.String("checkpoint_dir", c.CheckpointDir),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("destroy_reserve", c.DestroyReserve),
		slog.Duration("poll_interval", c.PollInterval),
		slog.String("disk_check", c.DiskCheck.String()),
		slog.Bool("enforce_memory", c.EnforceMemory),
		slog.Float64("cpu_overcommit", c.CPUOvercommit),
		slog.Duration("keepalive_interval", c.KeepAliveInterval),
		slog.Uint64("keepalive_count", uint64(c.KeepAliveCount)),
		slog.Any("image_roots", c.Domain.ImageRoots),
		slog.Any("firmware_roots", c.Domain.FirmwareRoots),
	)
}

// publicQuery are URI parameters that never hold secrets.
var publicQuery = map[string]bool{"socket": true, "mode": true, "proxy": true, "no_verify": true, "no_tty": true}

// redactURI drops the password of the user info and every query value
// not known to be public. A URI that does not parse is hidden whole.
func redactURI(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable URI redacted]"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, kv := range parts {
			k, _, _ := strings.Cut(kv, "=")
			if key, err := url.QueryUnescape(k); err != nil || !publicQuery[key] {
				parts[i] = k + "=xxxxx"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// hostless reports whether uri names no remote host.
func hostless(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Host == ""
}

// remote reports whether uri goes through libvirt's remote driver: a
// host, or a transport (driver+unix, driver+ssh, ...).
func remote(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && (u.Host != "" || strings.Contains(u.Scheme, "+"))
}
