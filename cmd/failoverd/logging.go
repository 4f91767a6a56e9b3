package main

import (
	"io"
	"log/slog"
)

// newLogger is the process's slog logger, as log.format and log.level say.
func newLogger(cfg *Config, w io.Writer) (*slog.Logger, error) {
	level, err := cfg.logLevel()
	if err != nil {
		return nil, cfg.errAt("log.level", err.Error(), nil)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
