package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rackha/failover/bmc/ipmibmc"
)

// IPMI backend flags.
var (
	ipmiAddrs  = flag.String("ipmi", "", "IPMI BMC address(es), HOST[:PORT], comma-separated (port default 623)")
	ipmiCipher = flag.Int("cipher", 17, "IPMI RMCP+ cipher suite: 17 or 3")
)

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
	var out []target
	for _, a := range strings.Split(*ipmiAddrs, ",") {
		a = strings.TrimSpace(a)
		host, port := a, 623
		if h, p, err := net.SplitHostPort(a); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("-ipmi %q: port %q is not a number", a, p)
			}
			host, port = h, n
		}
		cfg := ipmibmc.DefaultConfig(host, *user, password())
		cfg.Port = port
		cfg.CipherSuite = *ipmiCipher
		b, err := ipmibmc.New(cfg)
		if err != nil {
			for _, t := range out {
				_ = t.close()
			}
			return nil, fmt.Errorf("-ipmi %q: %w", a, err)
		}
		out = append(out, fromBMC("ipmi "+a, b))
	}
	return out, nil
}
