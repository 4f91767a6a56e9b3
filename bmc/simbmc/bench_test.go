package simbmc_test

import (
	"context"
	"fmt"
	"github.com/rackha/failover/clock"
	"testing"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/sensor"
)

// readings32 returns 32 sensors: the default blade's 8, then 24 more.
func readings32() []sensor.Reading {
	rs := simbmc.DefaultReadings()
	for i := len(rs); i < 32; i++ {
		rs = append(rs, sensor.Reading{Name: fmt.Sprintf("DIMM%02d Temp", i), Kind: sensor.KindTemperature, Unit: "C", Value: 40,
			Thresholds: sensor.Thresholds{UpperCaution: sensor.At(80), UpperCritical: sensor.At(85), UpperFatal: sensor.At(90)}})
	}
	return rs
}

func BenchmarkReadings32(b *testing.B) {
	cfg := simbmc.DefaultConfig("blade-a")
	cfg.Readings = readings32()
	cfg.Clock = clock.NewManual(epoch)
	s, err := simbmc.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rs, err := s.Readings(ctx)
		if err != nil || len(rs) != 32 {
			b.Fatalf("Readings: %d, %v", len(rs), err)
		}
	}
}
