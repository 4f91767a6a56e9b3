package ipmibmc

import (
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// TestIPMI15WhenAsked: IPMI 1.5 (unencrypted) works only when explicitly
// allowed, and then reads the same sensors.
func TestIPMI15WhenAsked(t *testing.T) {
	s := startSim(t, ipmisim.Config{})
	cfg := simConfig(s)
	cfg.Interface = InterfaceLAN
	if _, err := New(cfg); err == nil {
		t.Fatal("IPMI 1.5 accepted without AllowIPMI15")
	}
	cfg.AllowIPMI15 = true
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(s.Sensors()) {
		t.Errorf("%d readings over IPMI 1.5, want %d", len(rs), len(s.Sensors()))
	}
}
