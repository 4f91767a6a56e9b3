package ipmibmc

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

// BMC is one server's BMC over IPMI. It implements bmc.BMC and
// watchdog.Disarmer; all methods are safe for concurrent use.
type BMC struct {
	cfg Config
	s   *session
	log *slog.Logger

	// Sensor data record cache (sensors.go).
	sdrMu   sync.Mutex
	sdrs    []sdrSensor
	sdrInfo repoInfo
	sdrGen  uint64 // session generation the cache was checked in
	sdrOK   bool
	thAt    time.Time // when the thresholds were last read

	// SEL position (health.go).
	selMu    sync.Mutex
	selLast  uint16 // last record ID reported
	selHave  bool   // selLast is valid
	selInfo  repoInfo
	selReady bool // baseline taken

	// Watchdog bookkeeping for BMCs that do not report the present
	// countdown (watchdog.go).
	wdMu      sync.Mutex
	wdStarted time.Time // last Arm or Kick by this adapter
	wdTimeout time.Duration
	wdRunning bool

	powerMu sync.Mutex // one power operation at a time
}

var (
	_ bmc.BMC           = (*BMC)(nil)
	_ watchdog.Disarmer = (*BMC)(nil)
)

// New checks cfg and returns an adapter for its BMC. It does not contact
// the BMC: the session is opened by the first call, and opened again
// whenever it stops answering, so New succeeds while a BMC is down.
func New(cfg Config) (*BMC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Only the session, behind a pointer, keeps the password.
	pub := cfg
	pub.Password = ""
	return &BMC{cfg: pub, s: &session{cfg: cfg, guard: &guardDialer{password: cfg.Password}}, log: cfg.Logger}, nil
}

// Close ends the session; later calls fail with bmc.ErrUnreachable.
func (b *BMC) Close() error { return b.s.close() }

// String names the BMC without credentials.
func (b *BMC) String() string { return "ipmibmc(" + b.cfg.target() + ")" }

// GoString is String, so %#v does not print the configuration's password.
func (b *BMC) GoString() string { return b.String() }

// Format makes every verb print String, for the same reason.
func (b *BMC) Format(f fmt.State, verb rune) { fmt.Fprint(f, b.String()) }
