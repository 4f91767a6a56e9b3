package etcdlease_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/lease/etcdlease"
)

// A host keeps its lease; its watcher sees it held and cannot take it
// over. Once the host stops (here cleanly: its lease is revoked), the
// watcher takes it over, and the host's next keeper waits until the
// watcher releases it.
func Example() {
	cfg := etcdlease.DefaultConfig()
	cfg.Endpoints = []string{embedded.endpoint} // the cluster's client URLs
	cfg.Prefix = "/example/rack-1/"
	cfg.TTL = 2 * time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)

	// On the host blade-a.
	host, err := etcdlease.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()
	keeper := host.Keeper("blade-a")
	ctx, stopHost := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- keeper.Run(ctx) }()
	<-keeper.Held()
	alive, _ := keeper.Alive()
	fmt.Println("blade-a alive:", alive)

	// On its watcher blade-b.
	wcfg := cfg
	wcfg.Peers = []string{"blade-a"}
	watcher, err := etcdlease.New(wcfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer watcher.Close()
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	leases, err := watcher.Watch(wctx, "blade-b")
	if err != nil {
		fmt.Println(err)
		return
	}
	l := <-leases
	fmt.Printf("%s held=%v ttl=%v\n", l.Server, l.Held, l.TTL)
	err = watcher.Takeover(context.Background(), "blade-a", "blade-b")
	fmt.Println("takeover refused, lease held:", errors.Is(err, failover.ErrLeaseHeld))

	stopHost()
	<-done
	l = <-leases
	fmt.Printf("%s held=%v\n", l.Server, l.Held)
	fmt.Println("takeover:", watcher.Takeover(context.Background(), "blade-a", "blade-b"))

	// blade-a comes back: its keeper waits for the release.
	again := host.Keeper("blade-a")
	ctx, stopHost = context.WithCancel(context.Background())
	go func() { done <- again.Run(ctx) }()
	fmt.Println("release:", watcher.Release(context.Background(), "blade-a", "blade-b"))
	<-again.Held()
	l = <-leases
	fmt.Printf("%s held=%v\n", l.Server, l.Held)
	stopHost()
	<-done
	// Output:
	// blade-a alive: true
	// blade-a held=true ttl=2s
	// takeover refused, lease held: true
	// blade-a held=false
	// takeover: <nil>
	// release: <nil>
	// blade-a held=true
}
