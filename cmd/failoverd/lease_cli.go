package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rackha/failover/lease/etcdlease"
)

// `failoverd lease show` prints each server's lease, takeover record and
// watchdog declaration as etcd holds them; `failoverd lease release
// SERVER` removes a takeover record by hand (a watcher that died
// mid-takeover leaves it, and the server cannot take a lease until it
// is gone: README "Takeover after total power loss").

func runLease(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("lease", stderr)
	path := fs.String("config", "", "the rack's YAML config file (required)")
	server := fs.String("server", "", "present this server's certificate to etcd (default: the config's operator certificate)")
	jsonOut := fs.Bool("json", false, "show: one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: failoverd lease -config F [-server S] [-json] show\n       failoverd lease -config F [-server S] release SERVER")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	rest := fs.Args()
	if *path == "" || len(rest) == 0 {
		return usageError("lease needs -config FILE and show or release SERVER")
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if !cfg.Etcd.used() {
		return cfg.errAt("etcd", "is not set: the leases live in etcd", nil)
	}
	own := cfg.Operator
	if *server != "" {
		i := cfg.serverIndex(*server)
		if i < 0 {
			return usageError("-server %q is not one of the servers in %s", *server, cfg.File)
		}
		own = cfg.Servers[i].TLS
	} else if own.Cert == "" && cfg.Etcd.TLS.Cert == "" && !cfg.Etcd.InsecurePlaintext {
		return usageError("lease needs -server NAME, or operator: {cert, key} or etcd.tls in %s: a certificate to present to etcd", cfg.File)
	}
	d := &daemon{cfg: cfg}
	a := &adapters{cfg: cfg}
	defer a.Close()
	cli, spec, err := d.etcdClient(a, own)
	if err != nil {
		return err
	}
	lcfg := etcdlease.DefaultConfig()
	lcfg.Client, lcfg.Prefix, lcfg.RequestTimeout = cli, spec.Prefix, spec.RequestTimeout
	lcfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	store, err := etcdlease.New(lcfg)
	if err != nil {
		return cfg.errAt("etcd", "refused", err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*spec.RequestTimeout+spec.DialTimeout)
	defer cancel()
	switch {
	case rest[0] == "show" && len(rest) == 1:
		rows, err := readLeases(ctx, cli, spec.Prefix, cfg.serverNames())
		if err != nil {
			return err
		}
		return printLeases(stdout, rows, *jsonOut)
	case rest[0] == "release" && len(rest) == 2:
		target := rest[1]
		if cfg.server(target) == nil {
			return usageError("release %q: not one of the servers in %s", target, cfg.File)
		}
		rows, err := readLeases(ctx, cli, spec.Prefix, cfg.serverNames())
		if err != nil {
			return err
		}
		var row leaseRow
		for _, r := range rows {
			if r.Server == target {
				row = r
			}
		}
		if row.TakenOverBy == "" {
			fmt.Fprintf(stdout, "%s: no takeover recorded; nothing to release\n", target)
			return nil
		}
		// Only the record read is removed: one written since stays.
		if err := store.Release(ctx, target, row.TakenOverBy); err != nil {
			return fmt.Errorf("lease release %s: %w", target, err)
		}
		fmt.Fprintf(stdout, "%s: takeover by %s released; its monitor may take its lease again\n", target, row.TakenOverBy)
		return nil
	}
	return usageError("lease: want show, or release SERVER (got %q)", rest)
}

// leaseRow is one server's keys in etcd.
type leaseRow struct {
	Server      string `json:"server"`
	Held        bool   `json:"held"`
	TTLMS       int64  `json:"ttl_ms,omitempty"`
	TakenOverBy string `json:"taken_over_by,omitempty"`
	Watchdog    string `json:"watchdog,omitempty"` // armed, disarmed, or "" (never declared)
}

// readLeases reads every server's lease, takeover and watchdog keys at
// one revision (the layout of lease/etcdlease's package doc).
func readLeases(ctx context.Context, cli *clientv3.Client, prefix string, servers []string) ([]leaseRow, error) {
	var ops []clientv3.Op
	for _, s := range servers {
		ops = append(ops, clientv3.OpGet(prefix+"lease/"+s), clientv3.OpGet(prefix+"takeover/"+s), clientv3.OpGet(prefix+"watchdog/"+s))
	}
	resp, err := cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("lease: read %s{lease,takeover,watchdog}/*: %w", prefix, err)
	}
	value := func(i int) ([]byte, bool) {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return nil, false
		}
		return kvs[0].Value, true
	}
	var rows []leaseRow
	for i, s := range servers {
		r := leaseRow{Server: s}
		if v, ok := value(3 * i); ok {
			r.Held = true
			var lv struct {
				TTLMS int64 `json:"ttl_ms"`
			}
			if json.Unmarshal(v, &lv) == nil {
				r.TTLMS = lv.TTLMS
			}
		}
		if v, ok := value(3*i + 1); ok {
			r.TakenOverBy = string(v)
		}
		if v, ok := value(3*i + 2); ok {
			r.Watchdog = string(v)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func printLeases(w io.Writer, rows []leaseRow, jsonOut bool) error {
	if jsonOut {
		return json.NewEncoder(w).Encode(map[string]any{"servers": rows})
	}
	for _, r := range rows {
		held := "no lease"
		if r.Held {
			held = "lease held (ttl " + (time.Duration(r.TTLMS) * time.Millisecond).String() + ")"
		}
		taken := ""
		if r.TakenOverBy != "" {
			taken = ", taken over by " + r.TakenOverBy + " (failoverd lease release " + r.Server + " removes the record)"
		}
		wd := r.Watchdog
		if wd == "" {
			wd = "never declared"
		}
		if _, err := fmt.Fprintf(w, "%-12s %s, watchdog %s%s\n", r.Server, held, wd, taken); err != nil {
			return err
		}
	}
	return nil
}
