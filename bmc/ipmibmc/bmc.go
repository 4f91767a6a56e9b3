package ipmibmc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

// BMC is one server's BMC over IPMI. It implements bmc.BMC and
// watchdog.Disarmer; all methods are safe for concurrent use.
type BMC struct {
	cfg Config // without its password
	s   *session
	log *slog.Logger
	*caches
}

// caches is the BMC's mutable state, behind a pointer so that a BMC value
// can be printed (value receivers) without copying locks.
type caches struct {
	// Sensor data record cache (sensors.go).
	sdrMu   sync.Mutex
	sdrs    []sdrSensor
	sdrInfo repoInfo
	sdrGen  uint64 // session generation the cache was checked in
	sdrOK   bool
	thAt    time.Time // when the thresholds were last read
	// The disk cache file of the records in memory (sdrcache.go), and
	// whether the next read must skip it (a sensor went away).
	sdrKey      sdrCacheKey
	sdrKeyOK    bool
	sdrSkipDisk bool

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
	// Only the session, behind a pointer, keeps the password, in a type
	// that prints as REDACTED.
	pw := newSecret(cfg.Password)
	cfg.Password = ""
	s := &session{cfg: cfg, password: pw}
	if cfg.Interface == InterfaceLanplus {
		s.guard = &guardDialer{password: pw, suite: types.CipherSuiteID(cfg.CipherSuite)}
		s.dial = s.guard
	}
	return &BMC{cfg: cfg, s: s, log: cfg.Logger, caches: &caches{}}, nil
}

// Close ends the session; later calls fail with bmc.ErrUnreachable.
func (b *BMC) Close() error { return b.s.close() }

// String names the BMC without credentials.
func (b BMC) String() string { return "ipmibmc(" + b.cfg.target() + ")" }

// GoString is String, so %#v prints no credentials.
func (b BMC) GoString() string { return b.String() }

// Format makes every verb print String (quoted for %q).
func (b BMC) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", b.String())
		return
	}
	fmt.Fprint(f, b.String())
}

// LogValue logs the BMC's address and interface.
func (b BMC) LogValue() slog.Value {
	return slog.GroupValue(slog.String("target", b.cfg.target()), slog.String("interface", string(b.cfg.Interface)))
}

// MarshalJSON encodes the BMC's address and interface.
func (b BMC) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Target    string    `json:"target"`
		Interface Interface `json:"interface"`
	}{b.cfg.target(), b.cfg.Interface})
}
