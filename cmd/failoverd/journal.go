package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/telemetry"
)

// journalFiles copies each server's rack.Journal to DIR/SERVER.jsonl in
// the telemetry format (what failoverd replay reads), rotated by size.
// It reads the journals at each poll interval and writes the statuses
// newer than the last one written, so the in-memory journal (JournalSize
// statuses) must span more than an interval, which it does by far.
// Used from the rack manager's goroutine only.
type journalFiles struct {
	local    *rack.Local
	interval time.Duration
	servers  []string
	writers  map[string]*telemetry.Writer
	last     map[string]time.Time
	log      *slog.Logger
}

// journalWriterConfig is telemetry's default with the file's overrides.
func (c *Config) journalWriterConfig(server string) telemetry.WriterConfig {
	rm := c.RackManager
	wc := telemetry.DefaultWriterConfig(filepath.Join(rm.JournalDir, server+".jsonl"))
	if rm.JournalMaxBytes != 0 {
		wc.MaxBytes = rm.JournalMaxBytes
	}
	if rm.JournalKeep != 0 {
		wc.Keep = rm.JournalKeep
	}
	return wc
}

// checkJournalFiles validates the journal_* fields.
func (c *Config) checkJournalFiles(v *checker) {
	rm := c.RackManager
	if rm.JournalDir == "" {
		if rm.JournalMaxBytes != 0 || rm.JournalKeep != 0 {
			v.fail("rack_manager.journal_dir", "is empty, but journal_max_bytes or journal_keep is set", nil)
		}
		return
	}
	for i, s := range c.Servers {
		if strings.ContainsAny(s.Name, `/\`) || s.Name == "." || s.Name == ".." {
			v.fail(fmt.Sprintf("servers[%d].name", i), fmt.Sprintf("%q cannot name a journal file", s.Name), nil)
		}
	}
	if rm.JournalMaxBytes < 0 {
		v.fail("rack_manager.journal_max_bytes", fmt.Sprintf("%d: want > 0", rm.JournalMaxBytes), nil)
	}
	if err := c.journalWriterConfig("x").Validate(); err != nil && !v.failed() {
		v.fail("rack_manager.journal_keep", fmt.Sprintf("%d refused", rm.JournalKeep), err)
	}
}

// newJournalFiles opens every server's file (closed with a's adapters
// too), or returns nil when journal_dir is not set.
func (d *daemon) newJournalFiles(a *adapters, local *rack.Local, interval time.Duration) (*journalFiles, error) {
	if d.cfg.RackManager.JournalDir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(d.cfg.RackManager.JournalDir, 0o750); err != nil {
		return nil, d.cfg.errAt("rack_manager.journal_dir", "cannot create", err)
	}
	j := &journalFiles{local: local, interval: interval, writers: map[string]*telemetry.Writer{},
		last: map[string]time.Time{}, log: d.log}
	for _, s := range d.cfg.Servers {
		w, err := telemetry.NewWriter(d.cfg.journalWriterConfig(s.Name))
		if err != nil {
			return nil, d.cfg.errAt("rack_manager.journal_dir", "cannot open a journal file", err)
		}
		a.closers = append(a.closers, w) // closed again after Run: Close is idempotent
		j.servers = append(j.servers, s.Name)
		j.writers[s.Name] = w
	}
	return j, nil
}

// Run copies new journal entries every interval until ctx ends. Finish
// copies the last ones once polling has stopped.
func (j *journalFiles) Run(ctx context.Context) {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			j.flush()
		}
	}
}

// Finish copies the entries not yet written and closes the files.
func (j *journalFiles) Finish() {
	j.flush()
	j.close()
}

// flush writes each server's statuses newer than the last written.
func (j *journalFiles) flush() {
	for _, s := range j.servers {
		jr := j.local.Journal(s)
		if jr == nil {
			continue
		}
		for _, st := range jr.Entries() {
			if !st.Time.After(j.last[s]) {
				continue
			}
			if err := j.writers[s].Write(telemetry.FromStatus(st)); err != nil {
				j.log.Warn("failoverd: journal file", "server", s, "err", err)
				break // retried at the next flush
			}
			j.last[s] = st.Time
		}
	}
}

func (j *journalFiles) close() {
	for _, w := range j.writers {
		if err := w.Close(); err != nil {
			j.log.Warn("failoverd: journal file", "err", err)
		}
	}
}
