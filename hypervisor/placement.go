package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrRunsTwice: a VM runs on more than one hypervisor at once.
var ErrRunsTwice = errors.New("failover: VM runs on more than one server")

// Placement lists, for each VM running (or paused) on any of hvs, the
// names of the servers it runs on, sorted. It fails if a hypervisor
// cannot be listed. Safe for concurrent use if the hypervisors are.
func Placement(ctx context.Context, hvs map[string]Hypervisor) (map[string][]string, error) {
	where := map[string][]string{}
	for _, server := range slices.Sorted(maps.Keys(hvs)) {
		vms, err := hvs[server].List(ctx)
		if err != nil {
			return nil, fmt.Errorf("hypervisor: list %s: %w", server, err)
		}
		for _, vm := range vms {
			if vm.State == StateRunning || vm.State == StatePaused {
				where[vm.Name] = append(where[vm.Name], server)
			}
		}
	}
	return where, nil
}

// CheckPlacement returns an error wrapping ErrRunsTwice naming every VM
// that runs on more than one server: the one thing failover must never
// allow.
func CheckPlacement(where map[string][]string) error {
	var twice []string
	for _, vm := range slices.Sorted(maps.Keys(where)) {
		if len(where[vm]) > 1 {
			twice = append(twice, fmt.Sprintf("%s on %s", vm, strings.Join(where[vm], " and ")))
		}
	}
	if len(twice) > 0 {
		return fmt.Errorf("%w: %s", ErrRunsTwice, strings.Join(twice, "; "))
	}
	return nil
}
