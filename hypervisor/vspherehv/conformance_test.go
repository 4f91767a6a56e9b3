package vspherehv

import (
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/hypervisortest"
	"github.com/rackha/failover/imagestore"
)

// suiteImage is a create-form image: the suite names VMs freely, and only
// the create form makes a VM out of nothing but a name.
func suiteImage(name string) imagestore.Image {
	return imagestore.Image{
		Name:       name,
		Definition: []byte(`{"guestId": "otherGuest64", "datastore": "` + simDS + `"}`),
		Owner:      hostA, Generation: 1, MemoryMiB: 128, CPUs: 1,
	}
}

func TestConformance(t *testing.T) {
	hypervisortest.Run(t, hypervisortest.Harness{
		Open: func(t *testing.T) hypervisortest.Fixture {
			s := newSim(t)
			s.sizeHost(t, hostA, 16<<10, 16)
			s.sizeHost(t, hostB, 16<<10, 16)
			return hypervisortest.Fixture{
				HV:       s.hv(t, hostA),
				Peer:     s.hv(t, hostB),
				NewImage: suiteImage,
				BadImage: func(name string) imagestore.Image {
					img := suiteImage(name)
					img.Definition = []byte("[" + simDS + "] missing/missing.vmx")
					return img
				},
			}
		},
		// The simulator's server is closed under a connected Hypervisor.
		Unreachable: func(t *testing.T) hypervisor.Hypervisor {
			s := newSim(t)
			h := s.hv(t, hostA)
			s.srv.Close()
			return h
		},
		EnforcesCapacity: true,
		Timeout:          20 * time.Second,
	})
}
