package failover_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// The engine is driven by hand: statuses and results in, actions out.
func ExampleEngine() {
	e, err := failover.NewEngine("blade-2", failover.DefaultPolicy())
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	off := &rack.Status{Server: "blade-1", Reachable: true, Health: bmc.Health{Power: bmc.PowerOff}}
	show := func(as []failover.Action) {
		for _, a := range as {
			if a.Kind == failover.ActionNotify {
				fmt.Println(a.Kind, a.Event.Type, a.Event.Cause)
			} else {
				fmt.Println(strings.TrimSpace(a.Kind.String() + " " + a.Server + " " + a.Image.Name))
			}
		}
	}
	for i := range 3 { // three polls: the debounce
		show(e.Step(failover.Input{Kind: failover.InputStatus, Time: now.Add(time.Duration(i) * time.Second), Status: off}))
	}
	vm := imagestore.Image{Name: "db", Owner: "blade-1", Generation: 4}
	show(e.Step(failover.Input{Kind: failover.InputInventory, Server: "blade-1", Images: []imagestore.Image{vm}}))
	show(e.Step(failover.Input{Kind: failover.InputFenced, Server: "blade-1"}))
	show(e.Step(failover.Input{Kind: failover.InputStarted, Server: "blade-1", Image: vm}))
	// Output:
	// notify detected no-power
	// inventory blade-1
	// fence blade-1
	// notify fenced no-power
	// start-backup blade-1 db
	// notify backup-started no-power
	// restart blade-1
}
