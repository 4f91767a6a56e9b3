package rackelect_test

import (
	"context"
	"log"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackelect"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// One rack manager replica: its servers' power guarded by the election,
// and its rack.Local polling only while it leads. A rackhttp.Handler
// would get the Elector as its HandlerConfig.Leadership.
func Example() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://etcd1.rack:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	cfg := rackelect.DefaultConfig()
	cfg.Client, cfg.Prefix, cfg.Name = cli, "/rackha/rack-7/rack-manager/", "https://rm1.rack:7443"
	el, err := rackelect.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer el.Close()

	topo, _ := rack.Pairs("s1", "s2")
	lc := rack.DefaultLocalConfig()
	lc.Topology = topo
	for _, name := range []string{"s1", "s2"} {
		b, _ := simbmc.New(simbmc.DefaultConfig(name))
		// Every power command passes the leadership check in etcd first.
		lc.Servers = append(lc.Servers, rack.Server{Name: name, Sensors: b, Health: b, Power: el.Guard(name, b)})
	}
	local, err := rack.NewLocal(lc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Poll while leading; campaign again after each term.
	if err := el.Lead(ctx, local.Run); err != nil {
		log.Fatal(err)
	}
}
