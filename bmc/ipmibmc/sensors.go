package ipmibmc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// bmcAddr is the BMC's own slave address; sensors owned by other
// controllers would need bridged requests and are not polled.
const bmcAddr = 0x20

// Readings polls every analog sensor of the BMC. The sensor data records
// are cached (in memory, and on disk with Config.SDRCacheDir): a poll
// costs one Get SDR Repository Info (to notice added or removed records)
// and one Get Sensor Reading per sensor. A sensor that gives no reading,
// or one that cannot be a measurement, is returned with
// StatusUnavailable (and a warning is logged for the latter).
func (b *BMC) Readings(ctx context.Context) ([]sensor.Reading, error) {
	sdrs, err := b.sensors(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sensor.Reading, 0, len(sdrs))
	stale := false
	for i := range sdrs {
		s := &sdrs[i]
		r := sensor.Reading{Name: s.name, Kind: s.kind, Unit: s.unit, Thresholds: s.th, Status: sensor.StatusUnavailable}
		d, err := b.s.raw(ctx, "Get Sensor Reading", netFnSensor, cmdSensorReading, []byte{s.number}, true)
		r.Time = time.Now()
		switch cc, isCC := ccOf(err); {
		case err == nil:
			if rd, derr := decodeReading(d); derr != nil {
				b.log.Warn("ipmibmc: sensor reading malformed", "bmc", b.cfg.target(), "sensor", s.name, "err", derr)
			} else if !rd.unavailable {
				v, cerr := s.value(rd.raw)
				r.Value, r.Status = v, sensor.StatusOK
				if cerr == nil {
					cerr = r.Validate()
				}
				if cerr != nil {
					b.log.Warn("ipmibmc: sensor reading is not a measurement", "bmc", b.cfg.target(), "sensor", s.name, "raw", rd.raw, "err", cerr)
					r.Value, r.Status = 0, sensor.StatusUnavailable
				}
			}
		case isCC:
			if cc == 0xcb || cc == 0xcd {
				stale = true // the sensor went away: read the records again next time
			}
		default:
			return nil, err
		}
		out = append(out, r)
	}
	if stale {
		b.sdrMu.Lock()
		b.sdrOK = false
		b.sdrSkipDisk = true // the disk copy is as stale: read the BMC's
		b.sdrMu.Unlock()
	}
	return out, nil
}

// sensors returns the cached records, reading them again when the
// repository changed (or a new session was opened: the BMC may have
// restarted with other records). With Config.SDRCacheDir set, records
// not in memory are taken from the disk cache when it matches the BMC
// (sdrcache.go), and written to it when read from the BMC.
func (b *BMC) sensors(ctx context.Context) ([]sdrSensor, error) {
	d, err := b.s.raw(ctx, "Get SDR Repository Info", netFnStorage, cmdSDRRepoInfo, nil, true)
	if err != nil {
		return nil, err
	}
	info, err := decodeRepoInfo("Get SDR Repository Info", d)
	if err != nil {
		return nil, fmt.Errorf("ipmibmc %s: %w", b.cfg.target(), err)
	}
	gen := b.s.generation()
	b.sdrMu.Lock()
	defer b.sdrMu.Unlock()
	if b.sdrOK && info == b.sdrInfo && gen == b.sdrGen {
		if time.Since(b.thAt) < b.cfg.ThresholdRefresh {
			return b.sdrs, nil
		}
		// Thresholds may have been changed on the BMC: read them into a
		// copy, since callers may still range over the current slice.
		sdrs, err := b.refreshThresholds(ctx, b.sdrs)
		if err != nil {
			return nil, err
		}
		b.sdrs, b.thAt = sdrs, time.Now()
		if b.sdrKeyOK {
			b.saveSDRCache(b.sdrKey, info, sdrs, b.thAt)
		}
		return sdrs, nil
	}
	key, keyOK := sdrCacheKey{}, false
	if info.hasTimestamps() {
		if key, keyOK, err = b.cacheKey(ctx); err != nil {
			return nil, err
		}
	}
	if keyOK && !b.sdrSkipDisk {
		if sdrs, thAt, ok := b.loadSDRCache(key, info); ok {
			if age := time.Since(thAt); age < 0 || age >= b.cfg.ThresholdRefresh {
				if sdrs, err = b.refreshThresholds(ctx, sdrs); err != nil {
					return nil, err
				}
				thAt = time.Now()
				b.saveSDRCache(key, info, sdrs, thAt)
			}
			b.sdrs, b.sdrInfo, b.sdrGen, b.sdrOK, b.thAt = sdrs, info, gen, true, thAt
			b.sdrKey, b.sdrKeyOK = key, true
			return sdrs, nil
		}
	}
	sdrs, err := b.readSDRs(ctx)
	if err != nil {
		return nil, err
	}
	b.sdrs, b.sdrInfo, b.sdrGen, b.sdrOK, b.thAt = sdrs, info, gen, true, time.Now()
	b.sdrKey, b.sdrKeyOK, b.sdrSkipDisk = key, keyOK, false
	if keyOK {
		b.saveSDRCache(key, info, sdrs, b.thAt)
	}
	return sdrs, nil
}

// refreshThresholds returns a copy of sdrs with the thresholds read again.
func (b *BMC) refreshThresholds(ctx context.Context, sdrs []sdrSensor) ([]sdrSensor, error) {
	sdrs = slices.Clone(sdrs)
	for i := range sdrs {
		if err := b.readThresholds(ctx, &sdrs[i]); err != nil {
			return nil, err
		}
	}
	return sdrs, nil
}

// uniqueName gives s a name not yet in names ("NAME #n" for a repeated
// one) and adds it.
func uniqueName(names map[string]bool, s *sdrSensor) {
	if names[s.name] {
		s.name = fmt.Sprintf("%s #%d", s.name, s.number)
	}
	names[s.name] = true
}

// readSDRs walks the SDR repository and reads each sensor's thresholds.
func (b *BMC) readSDRs(ctx context.Context) ([]sdrSensor, error) {
	var out []sdrSensor
	names := map[string]bool{}
	for tries := 0; ; tries++ {
		out = out[:0]
		clear(names)
		err := b.walkSDR(ctx, func(rec []byte) error {
			s, ok, err := parseSDR(rec)
			if err != nil {
				b.log.Warn("ipmibmc: SDR record skipped", "bmc", b.cfg.target(), "err", err)
				return nil
			}
			if !ok || s.owner != bmcAddr || s.lun != 0 {
				return nil
			}
			uniqueName(names, &s)
			out = append(out, s)
			return nil
		})
		if cc, ok := ccOf(err); ok && cc == 0xc5 && tries < 3 {
			continue // reservation cancelled: the repository changed under us
		}
		if err != nil {
			return nil, err
		}
		break
	}
	for i := range out {
		if err := b.readThresholds(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readThresholds fills s.th from Get Sensor Thresholds, or from the SDR's
// own copy when the BMC does not answer that command for the sensor.
func (b *BMC) readThresholds(ctx context.Context, s *sdrSensor) error {
	if s.readType != 0x01 || s.access == 0 {
		s.thMask, s.thRaw, s.th = 0, [6]uint8{}, sensor.Thresholds{}
		return nil // not a threshold sensor, or no thresholds
	}
	if s.access != 3 {
		d, err := b.s.raw(ctx, "Get Sensor Thresholds", netFnSensor, cmdThresholds, []byte{s.number}, true)
		if err == nil {
			mask, raw, derr := decodeThresholds(d)
			if derr == nil {
				s.thMask, s.thRaw, s.th = mask, raw, s.thresholds(mask, raw)
				return nil
			}
			b.log.Warn("ipmibmc: thresholds malformed, using the SDR's", "bmc", b.cfg.target(), "sensor", s.name, "err", derr)
		} else if _, isCC := ccOf(err); !isCC {
			return err
		}
	}
	s.thMask, s.thRaw, s.th = s.readable, s.sdrTh, s.thresholds(s.readable, s.sdrTh)
	return nil
}

// walkSDR calls f with every record of the SDR repository, reading each
// record's header and then its body in chunks.
func (b *BMC) walkSDR(ctx context.Context, f func(rec []byte) error) error {
	d, err := b.s.raw(ctx, "Reserve SDR Repository", netFnStorage, cmdReserveSDR, nil, true)
	var res uint16
	switch {
	case err == nil && len(d) >= 2:
		res = le16(d)
	case err == nil:
		return fmt.Errorf("ipmibmc %s: %w: Reserve SDR Repository answer of %d bytes", b.cfg.target(), bmc.ErrMalformed, len(d))
	default:
		if _, isCC := ccOf(err); !isCC {
			return err
		}
		// Reservation not supported: 0 is allowed for whole reads.
	}
	chunk := uint8(32)
	id := uint16(0)
	for n := 0; id != 0xffff; n++ {
		if n > 4096 {
			return fmt.Errorf("ipmibmc %s: %w: SDR repository does not end after 4096 records", b.cfg.target(), bmc.ErrMalformed)
		}
		next, hdr, err := b.getSDR(ctx, res, id, 0, 5)
		if err != nil {
			return err
		}
		if len(hdr) < 5 {
			return fmt.Errorf("ipmibmc %s: %w: SDR %#04x header of %d bytes", b.cfg.target(), bmc.ErrMalformed, id, len(hdr))
		}
		rec := append(make([]byte, 0, 5+int(hdr[4])), hdr[:5]...)
		for len(rec) < 5+int(hdr[4]) {
			want := min(int(chunk), 5+int(hdr[4])-len(rec))
			_, part, err := b.getSDR(ctx, res, id, uint8(len(rec)), uint8(want))
			if cc, ok := ccOf(err); ok && cc == 0xca && chunk > 8 {
				chunk /= 2 // the BMC reads fewer bytes at a time
				continue
			}
			if err != nil {
				return err
			}
			if len(part) == 0 {
				return fmt.Errorf("ipmibmc %s: %w: SDR %#04x: empty part at offset %d", b.cfg.target(), bmc.ErrMalformed, id, len(rec))
			}
			rec = append(rec, part[:min(len(part), want)]...)
		}
		if err := f(rec); err != nil {
			return err
		}
		if next == id {
			return fmt.Errorf("ipmibmc %s: %w: SDR %#04x names itself as next record", b.cfg.target(), bmc.ErrMalformed, id)
		}
		id = next
	}
	return nil
}

func (b *BMC) getSDR(ctx context.Context, res, id uint16, off, count uint8) (uint16, []byte, error) {
	d, err := b.s.raw(ctx, "Get SDR", netFnStorage, cmdGetSDR, []byte{byte(res), byte(res >> 8), byte(id), byte(id >> 8), off, count}, true)
	if err != nil {
		return 0, nil, err
	}
	next, rec, err := decodeNextAndRecord("Get SDR", d)
	if err != nil {
		return 0, nil, fmt.Errorf("ipmibmc %s: %w", b.cfg.target(), err)
	}
	return next, rec, nil
}
