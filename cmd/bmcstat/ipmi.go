package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rackha/failover/bmc/ipmibmc"
)

// IPMI backend flags.
var (
	ipmiAddrs   = flag.String("ipmi", "", "IPMI BMC address(es), HOST[:PORT], comma-separated (port default 623)")
	ipmiCipher  = flag.Int("cipher", 17, "IPMI RMCP+ cipher suite: 17 or 3")
	ipmiSDRDir  = flag.String("sdr-cache", defaultSDRCacheDir(), "IPMI: directory of the on-disk SDR cache (one file per BMC, re-read when the BMC's repository changes)")
	ipmiNoCache = flag.Bool("no-sdr-cache", false, "IPMI: read the whole SDR repository, keep no cache on disk")
)

// defaultSDRCacheDir is the user's cache directory's rackha-failover/sdr,
// or "" (no disk cache) when the user has none.
func defaultSDRCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "rackha-failover", "sdr")
}

func init() {
	register(backend{
		name:    "ipmi",
		enabled: func() bool { return *ipmiAddrs != "" },
		open:    openIPMI,
	})
}

// openIPMI makes one adapter per -ipmi address. Adapters connect lazily,
// so an unreachable BMC shows up as errors in its status, not here.
func openIPMI(ctx context.Context) ([]target, error) {
	cacheDir := ""
	if !*ipmiNoCache && *ipmiSDRDir != "" {
		d, err := filepath.Abs(*ipmiSDRDir)
		if err != nil {
			return nil, usageError{fmt.Errorf("-sdr-cache %q: %w", *ipmiSDRDir, err)}
		}
		cacheDir = d
	}
	var out []target
	fail := func(err error) ([]target, error) {
		for _, t := range out {
			_ = t.close()
		}
		return nil, usageError{err}
	}
	for _, a := range strings.Split(*ipmiAddrs, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return fail(fmt.Errorf("-ipmi %q: empty address", *ipmiAddrs))
		}
		host, port := a, 623
		if h, p, err := net.SplitHostPort(a); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				return fail(fmt.Errorf("-ipmi %q: port %q is not a number", a, p))
			}
			host, port = h, n
		}
		cfg := ipmibmc.DefaultConfig(host, *user, password())
		cfg.Port = port
		cfg.CipherSuite = *ipmiCipher
		cfg.SDRCacheDir = cacheDir
		b, err := ipmibmc.New(cfg) // only checks cfg
		if err != nil {
			return fail(fmt.Errorf("-ipmi %q: %w", a, err))
		}
		out = append(out, fromBMC("ipmi "+a, b))
	}
	return out, nil
}
