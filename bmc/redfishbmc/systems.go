package redfishbmc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rackha/failover/bmc"
)

// odataRef is a Redfish link.
type odataRef struct {
	ID string `json:"@odata.id"`
}

// rfStatus is the Redfish Status object.
type rfStatus struct {
	State        string
	Health       string
	HealthRollup string
}

// systemDoc is the part of a ComputerSystem the adapter reads.
type systemDoc struct {
	ODataID    string `json:"@odata.id"`
	ID         string `json:"Id"`
	Name       string
	PowerState string
	Status     rfStatus
	// HostWatchdogTimer stays raw: a malformed one must not fail Health.
	HostWatchdogTimer json.RawMessage
	LogServices       *odataRef
	Links             struct {
		Chassis []odataRef
	}
	Actions struct {
		Reset *struct {
			Target  string   `json:"target"`
			Allowed []string `json:"ResetType@Redfish.AllowableValues"`
		} `json:"#ComputerSystem.Reset"`
	}
}

type collectionDoc struct {
	Members []odataRef
}

// System describes one ComputerSystem of a service.
type System struct {
	ID, Name string
	Path     string // @odata.id
	Power    bmc.PowerState
	Health   string // Status.Health: OK, Warning, Critical or ""
	State    string // Status.State
}

type systemInfo = System

// ListSystems logs in to the service of cfg (cfg.System is ignored),
// lists its ComputerSystems with their state, and logs out: an enclosure
// answers one per blade.
func ListSystems(ctx context.Context, cfg Config) ([]System, error) {
	cfg.System = ""
	b, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.listSystems(ctx)
}

// System returns the system this adapter serves, as resolved at Open.
func (b *BMC) System() System { return b.sys }

func (b *BMC) listSystems(ctx context.Context) ([]System, error) {
	var root struct {
		Systems odataRef
	}
	if err := b.getJSON(ctx, "/redfish/v1/", &root); err != nil {
		return nil, err
	}
	if root.Systems.ID == "" {
		return nil, fmt.Errorf("%w: service root has no Systems collection", bmc.ErrMalformed)
	}
	var coll collectionDoc
	if err := b.getJSON(ctx, root.Systems.ID, &coll); err != nil {
		return nil, err
	}
	out := make([]System, 0, len(coll.Members))
	for _, m := range coll.Members {
		var d systemDoc
		if err := b.getJSON(ctx, m.ID, &d); err != nil {
			return nil, err
		}
		out = append(out, d.info(m.ID))
	}
	return out, nil
}

func (d *systemDoc) info(path string) System {
	if d.ODataID != "" {
		path = d.ODataID
	}
	return System{ID: d.ID, Name: d.Name, Path: path, Power: powerState(d.PowerState), Health: d.Status.Health, State: d.Status.State}
}

// pickSystem finds want (Id or path) among systems; empty want needs
// exactly one system.
func pickSystem(systems []System, want string) (System, error) {
	if want == "" {
		if len(systems) != 1 {
			ids := make([]string, len(systems))
			for i, s := range systems {
				ids[i] = s.ID
			}
			return System{}, fmt.Errorf("%w: Config.System is empty but the service has %d systems (%s)", ErrInvalidConfig, len(systems), strings.Join(ids, ", "))
		}
		return systems[0], nil
	}
	for _, s := range systems {
		if s.ID == want || strings.TrimRight(s.Path, "/") == strings.TrimRight(want, "/") {
			return s, nil
		}
	}
	return System{}, fmt.Errorf("%w: Config.System %q not found among %d systems", ErrInvalidConfig, want, len(systems))
}

// powerState maps Redfish PowerState; transitions read as unknown.
func powerState(s string) bmc.PowerState {
	switch s {
	case "On", "Paused":
		return bmc.PowerOn
	case "Off":
		return bmc.PowerOff
	}
	return bmc.PowerUnknown
}
