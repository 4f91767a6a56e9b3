package failovertest

// mutation is a deliberate bug the simulation can run with, to show that
// its invariants catch it (see mutants_test.go). Zero is none.
type mutation uint8

const (
	mutStartBeforeFence       mutation = iota + 1 // a fence is answered done before it is confirmed
	mutDebounce1                                  // DebouncePolls 1
	mutUnreachableFailed                          // an unreachable BMC reads as a server powered off
	mutClaimIgnored                               // a claim that failed is answered as done
	mutSkipReconcile                              // a restarted monitor does not reconcile
	mutIndeterminateConfirmed                     // an indeterminate fence is taken as confirmed
	mutCapacityIgnored                            // the watcher's free capacity is not read
	mutLeaseUngated                               // hosts kick their watchdog whether or not their lease is alive
)

var mutationNames = [...]string{"", "start before the fence is confirmed", "debounce 1", "unreachable taken as failed",
	"a claim error ignored", "reconcile skipped after a crash", "an indeterminate fence taken as confirmed", "capacity ignored",
	"watchdog kicked without a lease"}

func (m mutation) String() string { return mutationNames[m] }
