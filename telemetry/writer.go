package telemetry

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// WriterConfig says where a Writer appends and when it rotates.
type WriterConfig struct {
	// Path of the current file. Required.
	Path string
	// MaxBytes: a line that would take the current file past it first
	// rotates the file (a single longer line is still written whole).
	// Default 64 MiB: about a day of one server at a 1 s poll.
	MaxBytes int64
	// Keep is how many rotated files are kept: Path.1 (newest) to
	// Path.Keep. Default 4.
	Keep int
}

// DefaultWriterConfig returns the defaults documented on WriterConfig.
func DefaultWriterConfig(path string) WriterConfig {
	return WriterConfig{Path: path, MaxBytes: 64 << 20, Keep: 4}
}

// ErrInvalidWriter marks a WriterConfig Validate refuses.
var ErrInvalidWriter = errors.New("telemetry: invalid writer config")

// Validate names the first field that is wrong.
func (c WriterConfig) Validate() error {
	switch {
	case c.Path == "":
		return fmt.Errorf("%w: Path is empty", ErrInvalidWriter)
	case c.MaxBytes <= 0:
		return fmt.Errorf("%w: MaxBytes %d: want > 0", ErrInvalidWriter, c.MaxBytes)
	case c.Keep < 1 || c.Keep > 1000:
		return fmt.Errorf("%w: Keep %d: want 1 to 1000", ErrInvalidWriter, c.Keep)
	}
	return nil
}

// Writer appends Records to a file and rotates it by rename when it
// grows past MaxBytes. Safe for concurrent use.
type Writer struct {
	cfg  WriterConfig
	mu   sync.Mutex
	f    *os.File
	size int64
}

// NewWriter opens (appending) or creates cfg.Path.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("telemetry: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write appends r as one line (see Encode).
func (w *Writer) Write(r Record) error {
	line, err := Encode(r)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("telemetry: %s: writer closed", w.cfg.Path)
	}
	if w.size > 0 && w.size+int64(len(line)) > w.cfg.MaxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(line)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}

// rotate renames Path.k to Path.k+1 (dropping Path.Keep), Path to
// Path.1, and opens a new Path.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	w.f = nil
	p := w.cfg.Path
	if err := os.Remove(fmt.Sprintf("%s.%d", p, w.cfg.Keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("telemetry: rotate: %w", err)
	}
	for k := w.cfg.Keep - 1; k >= 1; k-- {
		err := os.Rename(fmt.Sprintf("%s.%d", p, k), fmt.Sprintf("%s.%d", p, k+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("telemetry: rotate: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return fmt.Errorf("telemetry: rotate: %w", err)
	}
	return w.open()
}

// Close closes the current file; later Writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
