package ipmibmc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// cmdCounter wraps the guard's dialer and counts the requests go-ipmi
// writes (plaintext above the guard), by network function and command.
type cmdCounter struct {
	d  dialer
	mu sync.Mutex
	n  map[[2]uint8]int
}

func (c *cmdCounter) Dial(network, addr string) (net.Conn, error) {
	conn, err := c.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return cmdCountingConn{conn, c}, nil
}

// count returns how many requests of netFn/cmd were sent.
func (c *cmdCounter) count(netFn, cmd uint8) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[[2]uint8{netFn, cmd}]
}

type cmdCountingConn struct {
	net.Conn
	c *cmdCounter
}

func (c cmdCountingConn) Write(p []byte) (int, error) {
	// IPMI request: rsAddr, netFn/LUN, checksum, rqAddr, rqSeq, cmd, data.
	if typ, pl, ok := rmcpPlus(p); ok && typ&0x3f == payloadIPMI && len(pl) >= 6 {
		c.c.mu.Lock()
		c.c.n[[2]uint8{pl[1] >> 2, pl[5]}]++
		c.c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

// cachedAdapter is a new adapter for s using the disk cache in dir, as
// a new process would be, with its requests counted.
func cachedAdapter(t *testing.T, s *ipmisim.Sim, dir string, refresh time.Duration) (*BMC, *cmdCounter) {
	t.Helper()
	cfg := simConfig(s)
	cfg.SDRCacheDir = dir
	cfg.ThresholdRefresh = refresh
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cc := &cmdCounter{d: b.s.dial, n: map[[2]uint8]int{}}
	b.s.dial = cc
	return b, cc
}

// sdrReads is the number of Reserve SDR Repository and Get SDR requests.
func (c *cmdCounter) sdrReads() int {
	return c.count(uint8(netFnStorage), cmdReserveSDR) + c.count(uint8(netFnStorage), cmdGetSDR)
}

// cacheFiles lists the cache files in dir (temporary files excluded).
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.sdr"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSDRCacheNextProcessReadsNoSDR: a second adapter (a new bmcstat
// process) on a warm cache sends no Reserve SDR Repository, Get SDR or
// Get Sensor Thresholds, and reads the same sensors and thresholds.
func TestSDRCacheNextProcessReadsNoSDR(t *testing.T) {
	s := startSim(t, ipmisim.Config{Sensors: ipmisim.DefaultSensors()[:7]})
	dir := filepath.Join(t.TempDir(), "sdr") // created by the adapter
	first, c1 := cachedAdapter(t, s, dir, time.Minute)
	want, err := first.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c1.sdrReads() == 0 {
		t.Fatal("the first adapter read no SDRs: the counter does not see requests")
	}
	files := cacheFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache files %v, want one", files)
	}
	for _, p := range []string{dir, files[0]} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", p, perm)
		}
	}
	second, c2 := cachedAdapter(t, s, dir, time.Minute)
	got, err := second.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n := c2.sdrReads(); n != 0 {
		t.Errorf("second adapter sent %d SDR requests, want 0", n)
	}
	if n := c2.count(uint8(netFnSensor), cmdThresholds); n != 0 {
		t.Errorf("second adapter sent %d Get Sensor Thresholds, want 0 (read within ThresholdRefresh)", n)
	}
	if d := cmp.Diff(toRows(want), toRows(got)); d != "" {
		t.Errorf("readings from the cache differ (-BMC +cache):\n%s", d)
	}
}

// TestSDRCacheAddedSensor: a sensor added on the BMC changes the
// repository's count and addition timestamp; the next adapter reads the
// records again, sees the new sensor, and the one after it reads none.
func TestSDRCacheAddedSensor(t *testing.T) {
	sensors := ipmisim.DefaultSensors()
	s := startSim(t, ipmisim.Config{Sensors: sensors[:7]})
	dir := t.TempDir()
	first, _ := cachedAdapter(t, s, dir, time.Minute)
	if _, err := first.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	added := sensors[9] // Inlet Temp
	if err := s.AddSensor(added, 8); err != nil {
		t.Fatal(err)
	}
	second, c2 := cachedAdapter(t, s, dir, time.Minute)
	rs, err := second.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c2.sdrReads() == 0 {
		t.Error("after a sensor was added the records were taken from the cache")
	}
	if len(rs) != 8 || rs[7].Name != added.Name {
		t.Errorf("%d readings, last %q; want 8, the last %q", len(rs), rs[len(rs)-1].Name, added.Name)
	}
	third, c3 := cachedAdapter(t, s, dir, time.Minute)
	rs, err = third.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c3.sdrReads() != 0 || len(rs) != 8 {
		t.Errorf("third adapter: %d SDR requests, %d readings; want 0 and 8", c3.sdrReads(), len(rs))
	}
}

// TestSDRCacheDamagedFile: a truncated, altered, foreign or
// group-writable file is not used; the records are read from the BMC
// and the file is replaced by a sound one.
func TestSDRCacheDamagedFile(t *testing.T) {
	s := startSim(t, ipmisim.Config{Sensors: ipmisim.DefaultSensors()[:7]})
	dir := t.TempDir()
	first, _ := cachedAdapter(t, s, dir, time.Minute)
	want, err := first.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	path := cacheFiles(t, dir)[0]
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Another ipmi_sim: the same GUID, other records and address.
	other := startSim(t, ipmisim.Config{Sensors: ipmisim.DefaultSensors()[10:12]})
	otherDir := t.TempDir()
	o, _ := cachedAdapter(t, other, otherDir, time.Minute)
	if _, err := o.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	foreign, err := os.ReadFile(cacheFiles(t, otherDir)[0])
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	for _, tc := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"truncated", good[:len(good)-7], 0o600},
		{"empty", nil, 0o600},
		{"one bit changed", flipped, 0o600},
		{"another BMC's file", foreign, 0o600},
		{"group-writable", good, 0o620},
	} {
		if err := os.WriteFile(path, tc.data, tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil { // WriteFile keeps an existing file's mode
			t.Fatal(err)
		}
		b, c := cachedAdapter(t, s, dir, time.Minute)
		got, err := b.Readings(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.sdrReads() == 0 {
			t.Errorf("%s: the file was used", tc.name)
		}
		if d := cmp.Diff(toRows(want), toRows(got)); d != "" {
			t.Errorf("%s: readings (-want +got):\n%s", tc.name, d)
		}
		d, err := readOwnFile(path)
		if err != nil {
			t.Fatalf("%s: rewritten file: %v", tc.name, err)
		}
		if _, err := decodeSDRCache(d); err != nil {
			t.Errorf("%s: rewritten file: %v", tc.name, err)
		}
	}
}

// TestSDRCacheThresholdsRefreshed: thresholds in a file older than
// ThresholdRefresh are read again (the records are not), so a threshold
// changed on the BMC is seen by the next process.
func TestSDRCacheThresholdsRefreshed(t *testing.T) {
	s := startSim(t, ipmisim.Config{Sensors: ipmisim.DefaultSensors()[:7]})
	dir := t.TempDir()
	first, _ := cachedAdapter(t, s, dir, 50*time.Millisecond)
	if _, err := first.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// P12V: upper critical from raw 147 to 150.
	if err := s.Console("sensor_set_threshold 0x20 0 1 settable 111111 0x9a 0x96 0x8d 0x66 0x6d 0x73"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	second, c := cachedAdapter(t, s, dir, 50*time.Millisecond)
	rs, err := second.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.sdrReads() != 0 || c.count(uint8(netFnSensor), cmdThresholds) == 0 {
		t.Errorf("%d SDR requests, %d Get Sensor Thresholds; want 0 and some", c.sdrReads(), c.count(uint8(netFnSensor), cmdThresholds))
	}
	sn := ipmisim.DefaultSensors()[0]
	if got, want := rs[0].Thresholds.UpperCritical.Value, sn.Value(0x96); math.Abs(got-want) > 1e-9 {
		t.Errorf("%s upper critical %v, want %v", rs[0].Name, got, want)
	}
}

// TestSDRCacheOff: without SDRCacheDir no GUID is asked for and nothing
// is written.
func TestSDRCacheOff(t *testing.T) {
	s := startSim(t, ipmisim.Config{Sensors: ipmisim.DefaultSensors()[:3]})
	b, c := cachedAdapter(t, s, "", time.Minute)
	if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := c.count(uint8(netFnApp), cmdGetSystemGUID); n != 0 {
		t.Errorf("%d Get System GUID without a cache directory", n)
	}
}

func TestSDRCacheDirMustBeAbsolute(t *testing.T) {
	cfg := DefaultConfig("bmc1", "admin", "pw")
	cfg.SDRCacheDir = "cache/sdr"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("relative SDRCacheDir: %v, want ErrInvalidConfig", err)
	}
}

// sampleCache is a valid cache file of the first sensors of ipmi_sim.
func sampleCache(n int) sdrCacheFile {
	f := sdrCacheFile{target: "127.0.0.1:623", guid: [16]byte{0xa1, 0x23, 15: 0xef},
		info: repoInfo{count: uint16(n), added: 0x2749, erased: 0}, thAt: time.Unix(0, 1_700_000_000_123_456_789)}
	for i, sn := range ipmisim.DefaultSensors()[:n] {
		f.records = append(f.records, cachedRecord{rec: sn.SDR(uint16(i + 1)), thMask: sn.Mask, thRaw: sn.Thresholds})
	}
	return f
}

func TestSDRCacheRoundTrip(t *testing.T) {
	want := sampleCache(7)
	d := encodeSDRCache(want)
	got, err := decodeSDRCache(d)
	if err != nil {
		t.Fatal(err)
	}
	if got.target != want.target || got.guid != want.guid || got.info != want.info || !got.thAt.Equal(want.thAt) || len(got.records) != 7 {
		t.Fatalf("decoded %+v", got)
	}
	for i := range want.records {
		if !bytes.Equal(got.records[i].rec, want.records[i].rec) || got.records[i].thMask != want.records[i].thMask || got.records[i].thRaw != want.records[i].thRaw {
			t.Errorf("record %d differs", i)
		}
	}
	// Every proper prefix is refused (checksum or length).
	for n := range len(d) {
		if _, err := decodeSDRCache(d[:n]); !errors.Is(err, errBadCacheFile) {
			t.Fatalf("prefix of %d bytes: %v, want errBadCacheFile", n, err)
		}
	}
}

// A well-formed file (checksum right) whose records are not sensors this
// adapter polls, or repeat a sensor, is refused.
func TestSDRCacheShapeChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*sdrCacheFile)
	}{
		{"compact record", func(f *sdrCacheFile) { f.records[0].rec = []byte{1, 0, 0x51, 0x02, 0} }},
		{"other owner", func(f *sdrCacheFile) { f.records[1].rec[5] = 0x22 }},
		{"length past header", func(f *sdrCacheFile) { f.records[2].rec = append(f.records[2].rec, 0) }},
		{"same sensor twice", func(f *sdrCacheFile) { f.records[3] = f.records[2] }},
		{"mask bits 6-7", func(f *sdrCacheFile) { f.records[0].thMask = 0x40 }},
	} {
		f := sampleCache(5)
		for i := range f.records {
			f.records[i].rec = bytes.Clone(f.records[i].rec)
		}
		tc.edit(&f)
		if _, err := decodeSDRCache(encodeSDRCache(f)); !errors.Is(err, errBadCacheFile) {
			t.Errorf("%s: %v, want errBadCacheFile", tc.name, err)
		}
	}
}

// FuzzDecodeSDRCache: the decoder never panics, refuses with
// errBadCacheFile, and what it accepts encodes back to the same bytes.
// Each input is decoded as it is and with a valid checksum appended, so
// that the fuzzer reaches the checks behind the checksum.
func FuzzDecodeSDRCache(f *testing.F) {
	for _, n := range []int{0, 1, 7} {
		d := encodeSDRCache(sampleCache(n))
		f.Add(d)
		f.Add(d[:len(d)-sha256.Size])
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		sum := sha256.Sum256(d)
		for _, in := range [][]byte{d, append(bytes.Clone(d), sum[:]...)} {
			c, err := decodeSDRCache(in)
			if err != nil {
				if !errors.Is(err, errBadCacheFile) {
					t.Fatalf("error not wrapping errBadCacheFile: %v", err)
				}
				continue
			}
			if again := encodeSDRCache(c); !bytes.Equal(again, in) {
				t.Fatalf("accepted file does not encode back to itself")
			}
		}
	})
}
