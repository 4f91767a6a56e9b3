package failover_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// The engine is driven by hand: statuses in, actions out, and each action
// answered by an Input carrying its ID. Here every action succeeds at
// once; a real runner carries them out concurrently and answers in any
// order.
func ExampleEngine() {
	e, err := failover.NewEngine("blade-2", failover.DefaultPolicy())
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db := imagestore.Image{Name: "db", Owner: "blade-1", Generation: 4}

	var queue []failover.Action
	step := func(in failover.Input) {
		in.Time = now
		for _, a := range e.Step(in) {
			if a.Kind == failover.ActionNotify {
				fmt.Println(strings.TrimSpace(fmt.Sprint("event: ", a.Event.Type, " ", a.Event.Server, " ", a.Event.VM)))
				continue
			}
			fmt.Println(strings.TrimSpace(fmt.Sprint("action: ", a.Kind, " ", a.Server, " ", a.Image.Name)))
			queue = append(queue, a)
		}
	}
	// answer carries out a as if every adapter worked.
	answer := func(a failover.Action) failover.Input {
		in := failover.Input{ID: a.ID}
		switch a.Kind {
		case failover.ActionInventory:
			in.Kind, in.Images = failover.InputInventory, []imagestore.Image{db}
		case failover.ActionFence:
			in.Kind = failover.InputFenced
		case failover.ActionProbe:
			in.Kind, in.State = failover.InputProbed, hypervisor.StateStopped
		case failover.ActionClaim:
			claimed := a.Image
			claimed.PreviousOwner, claimed.Owner, claimed.Generation = claimed.Owner, "blade-2", claimed.Generation+1
			in.Kind, in.Image = failover.InputClaimed, claimed
		case failover.ActionStart:
			in.Kind = failover.InputStarted
		case failover.ActionRestart:
			in.Kind = failover.InputRestarted
		}
		return in
	}

	off := &rack.Status{Server: "blade-1", Reachable: true, Health: bmc.Health{Power: bmc.PowerOff}}
	for range 3 { // power off must hold FastDwell, over three statuses
		step(failover.Input{Kind: failover.InputStatus, Status: off})
		now = now.Add(time.Second)
	}
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		step(answer(a))
		if a.Kind == failover.ActionFence {
			now = now.Add(failover.DefaultPolicy().FenceSettle)
			step(failover.Input{Kind: failover.InputTick}) // the fence has settled
		}
	}
	fmt.Println("phase:", e.Phase("blade-1"))
	// Output:
	// event: detected blade-1
	// action: inventory blade-1
	// action: fence blade-1
	// event: fenced blade-1
	// action: inventory blade-1
	// action: probe blade-1 db
	// action: claim blade-2 db
	// action: start blade-2 db
	// event: backup-started blade-1 db
	// action: inventory blade-1
	// action: restart blade-1
	// event: restarted blade-1
	// phase: recovering
}
