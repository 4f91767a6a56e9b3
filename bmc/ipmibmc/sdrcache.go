package ipmibmc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The on-disk SDR cache (Config.SDRCacheDir) keeps the sensor data records
// of one BMC between processes, as freeipmi's ipmi-sensors does, so that a
// one-shot program reads the repository once, not on every start. A file
// is keyed by the BMC's address and GUID (Get System GUID, else Get
// Device GUID) and holds the repository's record count and its most
// recent addition and erase timestamps: when Get SDR Repository Info
// answers other values, the records are read again and the file is
// replaced. A BMC without a GUID, or whose repository gives no timestamps
// (so that a change could not be noticed), gets no disk cache.
//
// Each file also holds the thresholds read with the records and when they
// were read; they are read again once older than Config.ThresholdRefresh,
// as in a long-lived adapter. Files are written to a temporary file and
// renamed into place (mode 0600). A file that is not a regular file of
// this user, not writable by others, whose checksum or shape is wrong, or
// that names another BMC is ignored and replaced.

// IPMI commands for the BMC's GUID (network function App).
const (
	cmdGetDeviceGUID = 0x08
	cmdGetSystemGUID = 0x37
)

// errBadCacheFile marks a cache file that is not used.
var errBadCacheFile = errors.New("ipmibmc: SDR cache file unusable")

// sdrCacheMagic starts every cache file; the digit is the format version.
var sdrCacheMagic = [8]byte{'r', 'h', 's', 'd', 'r', 'c', '1', '\n'}

// Bounds of a cache file: a record has a 5-byte header and at most 255
// body bytes; a repository holds at most 4096 records (walkSDR's bound).
const (
	sdrCacheMaxRecords = 4096
	sdrCacheMaxTarget  = 255
)

// sdrCacheFile is the decoded content of one cache file.
type sdrCacheFile struct {
	target  string   // Config.target() of the BMC
	guid    [16]byte // as the BMC answered it
	info    repoInfo // Get SDR Repository Info when the records were read
	thAt    time.Time
	records []cachedRecord
}

// cachedRecord is one polled sensor: its full SDR record and the
// thresholds in effect (Get Sensor Thresholds' mask and raw values, or
// the SDR's own).
type cachedRecord struct {
	rec    []byte
	thMask uint8 // bit0 LNC .. bit5 UNR
	thRaw  [6]uint8
}

// encodeSDRCache lays f out as: magic, target (length byte + bytes), GUID,
// count (u16), addition and erase timestamps (u32), thresholds' read time
// (i64 Unix ns), number of records (u16), each record as length (u16),
// bytes, threshold mask and six raw thresholds; then the SHA-256 of all
// of it. Integers are little-endian.
func encodeSDRCache(f sdrCacheFile) []byte {
	var b bytes.Buffer
	b.Write(sdrCacheMagic[:])
	b.WriteByte(byte(len(f.target)))
	b.WriteString(f.target)
	b.Write(f.guid[:])
	b.Write(binary.LittleEndian.AppendUint16(nil, f.info.count))
	b.Write(binary.LittleEndian.AppendUint32(nil, f.info.added))
	b.Write(binary.LittleEndian.AppendUint32(nil, f.info.erased))
	b.Write(binary.LittleEndian.AppendUint64(nil, uint64(f.thAt.UnixNano())))
	b.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(f.records))))
	for _, r := range f.records {
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(r.rec))))
		b.Write(r.rec)
		b.WriteByte(r.thMask)
		b.Write(r.thRaw[:])
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// decodeSDRCache checks and decodes a cache file. Anything but a complete
// file as encodeSDRCache writes it, whose records are all full sensor
// records this adapter polls, is an error wrapping errBadCacheFile.
func decodeSDRCache(d []byte) (sdrCacheFile, error) {
	var f sdrCacheFile
	bad := func(format string, a ...any) (sdrCacheFile, error) {
		return sdrCacheFile{}, fmt.Errorf("%w: "+format, append([]any{errBadCacheFile}, a...)...)
	}
	if len(d) < len(sdrCacheMagic)+sha256.Size {
		return bad("%d bytes, too short", len(d))
	}
	if !bytes.Equal(d[:len(sdrCacheMagic)], sdrCacheMagic[:]) {
		return bad("not a cache file of this format")
	}
	body, sum := d[:len(d)-sha256.Size], d[len(d)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return bad("checksum mismatch (truncated or damaged)")
	}
	r := cacheReader{d: body[len(sdrCacheMagic):]}
	n := int(r.u8())
	f.target = string(r.take(n))
	copy(f.guid[:], r.take(16))
	f.info.count = r.u16()
	f.info.added = r.u32()
	f.info.erased = r.u32()
	f.thAt = time.Unix(0, int64(r.u64()))
	count := int(r.u16())
	if r.short {
		return bad("header cut short")
	}
	if count > sdrCacheMaxRecords {
		return bad("%d records, at most %d allowed", count, sdrCacheMaxRecords)
	}
	seen := map[uint8]bool{}
	for i := range count {
		var c cachedRecord
		c.rec = bytes.Clone(r.take(int(r.u16())))
		c.thMask = r.u8()
		copy(c.thRaw[:], r.take(6))
		if r.short {
			return bad("record %d of %d cut short", i+1, count)
		}
		if len(c.rec) < 5 || len(c.rec) != 5+int(c.rec[4]) {
			return bad("record %d: length %d does not match its header", i+1, len(c.rec))
		}
		s, ok, err := parseSDR(c.rec)
		if err != nil {
			return bad("record %d: %v", i+1, err)
		}
		if !ok || s.owner != bmcAddr || s.lun != 0 {
			return bad("record %d (%#04x) is not a sensor this adapter polls", i+1, s.recordID)
		}
		if seen[s.number] {
			return bad("record %d: sensor number %#02x twice", i+1, s.number)
		}
		seen[s.number] = true
		if c.thMask&^0x3f != 0 {
			return bad("record %d: threshold mask %#02x", i+1, c.thMask)
		}
		f.records = append(f.records, c)
	}
	if len(r.d) != 0 {
		return bad("%d bytes after the last record", len(r.d))
	}
	return f, nil
}

// cacheReader reads little-endian fields; past the end it returns zeros
// and sets short.
type cacheReader struct {
	d     []byte
	short bool
}

func (r *cacheReader) take(n int) []byte {
	if n > len(r.d) {
		r.short, r.d = true, nil
		return nil
	}
	v := r.d[:n]
	r.d = r.d[n:]
	return v
}

func (r *cacheReader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *cacheReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *cacheReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *cacheReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// sdrCacheKey is what names one BMC's cache file.
type sdrCacheKey struct {
	guid [16]byte
	path string
}

// cacheKey asks the BMC for its GUID and returns the cache file for it;
// ok is false when the disk cache is off or the BMC has no GUID. An error
// is returned only when the BMC does not answer.
func (b *BMC) cacheKey(ctx context.Context) (sdrCacheKey, bool, error) {
	if b.cfg.SDRCacheDir == "" {
		return sdrCacheKey{}, false, nil
	}
	var d []byte
	var err error
	for _, c := range []struct {
		name string
		cmd  uint8
	}{{"Get System GUID", cmdGetSystemGUID}, {"Get Device GUID", cmdGetDeviceGUID}} {
		d, err = b.s.raw(ctx, c.name, netFnApp, c.cmd, nil, true)
		if err == nil && len(d) >= 16 {
			break
		}
		if _, isCC := ccOf(err); err != nil && !isCC {
			return sdrCacheKey{}, false, err
		}
		d = nil
	}
	if d == nil {
		return sdrCacheKey{}, false, nil
	}
	k := sdrCacheKey{guid: [16]byte(d[:16])}
	k.path = filepath.Join(b.cfg.SDRCacheDir, fmt.Sprintf("%s-%x.sdr", fileSafe(b.cfg.target()), k.guid))
	return k, true, nil
}

// fileSafe keeps letters, digits, dots and dashes of s; the target is
// checked inside the file, so names that map alike do not mix.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// hasTimestamps reports whether info can tell a changed repository from
// an unchanged one (0 and 0xffffffff mean "unspecified").
func (info repoInfo) hasTimestamps() bool {
	ok := func(ts uint32) bool { return ts != 0 && ts != 0xffffffff }
	return ok(info.added) || ok(info.erased)
}

// loadSDRCache returns the cached sensors for k if the file is sound and
// matches info; otherwise ok is false (and a damaged file is logged).
func (b *BMC) loadSDRCache(k sdrCacheKey, info repoInfo) (sdrs []sdrSensor, thAt time.Time, ok bool) {
	d, err := readOwnFile(k.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("ipmibmc: SDR cache file ignored", "bmc", b.cfg.target(), "path", k.path, "err", err)
		}
		return nil, time.Time{}, false
	}
	f, err := decodeSDRCache(d)
	if err != nil {
		b.log.Warn("ipmibmc: SDR cache file ignored", "bmc", b.cfg.target(), "path", k.path, "err", err)
		return nil, time.Time{}, false
	}
	if f.target != b.cfg.target() || f.guid != k.guid || f.info != info {
		return nil, time.Time{}, false // another BMC, or the repository changed
	}
	names := map[string]bool{}
	for _, c := range f.records {
		s, _, _ := parseSDR(c.rec) // checked by decodeSDRCache
		uniqueName(names, &s)
		s.thMask, s.thRaw = c.thMask, c.thRaw
		s.th = s.thresholds(s.thMask, s.thRaw)
		sdrs = append(sdrs, s)
	}
	return sdrs, f.thAt, true
}

// readOwnFile reads path if it is a regular file owned by this user that
// no one else may write.
func readOwnFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%v)", st.Mode())
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("writable by others (%v)", st.Mode().Perm())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("owned by uid %d, not this user", sys.Uid)
	}
	if st.Size() > 1<<21 {
		return nil, fmt.Errorf("%d bytes, larger than any cache file", st.Size())
	}
	d := make([]byte, st.Size())
	if _, err := fh.ReadAt(d, 0); err != nil {
		return nil, err
	}
	return d, nil
}

// saveSDRCache writes the file for k. Failures are logged: the cache
// only saves time.
func (b *BMC) saveSDRCache(k sdrCacheKey, info repoInfo, sdrs []sdrSensor, thAt time.Time) {
	if !info.hasTimestamps() || len(sdrs) > sdrCacheMaxRecords || len(b.cfg.target()) > sdrCacheMaxTarget {
		return
	}
	recs := make([]cachedRecord, len(sdrs))
	for i, s := range sdrs {
		recs[i] = cachedRecord{rec: s.rec, thMask: s.thMask, thRaw: s.thRaw}
	}
	d := encodeSDRCache(sdrCacheFile{target: b.cfg.target(), guid: k.guid, info: info, thAt: thAt, records: recs})
	if err := writeFileAtomic(k.path, d); err != nil {
		b.log.Warn("ipmibmc: SDR cache not written", "bmc", b.cfg.target(), "path", k.path, "err", err)
	}
}

// writeFileAtomic writes d to a temporary file in path's directory
// (created 0700 if missing) and renames it to path, so that readers see
// the old file or the new one. It does not fsync: a file torn by a crash
// fails its checksum and is read again from the BMC.
func writeFileAtomic(path string, d []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".sdr-*.tmp") // mode 0600
	if err != nil {
		return err
	}
	_, werr := tmp.Write(d)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}
