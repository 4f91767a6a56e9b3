package rack_test

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/rack"
)

// Every optional field left zero gets its default, and every field the
// caller set is kept, whichever others are set: checked field by field
// over LocalConfig by reflection, so a new field cannot be forgotten.
func TestNewLocalFillsDefaultsFieldByField(t *testing.T) {
	topo, _ := rack.Pairs("a", "b")
	base := rack.LocalConfig{Topology: topo, Servers: []rack.Server{{Name: "a"}, {Name: "b"}}}
	def := reflect.ValueOf(rack.DefaultLocalConfig())
	custom := map[string]any{
		"Interval": 3 * time.Second, "FastInterval": -time.Nanosecond, "CallTimeout": time.Second,
		"PowerTimeout": time.Minute, "JournalSize": 7, "Parallel": 1, "StormWindow": time.Minute,
		"HandoverAfter": time.Hour, "Now": func() time.Time { return time.Time{} }, "Logger": slog.New(slog.DiscardHandler),
	}
	typ := def.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Topology" || f.Name == "Servers" {
			continue
		}
		v, ok := custom[f.Name]
		if !ok {
			t.Errorf("LocalConfig.%s has no custom value in this test", f.Name)
			continue
		}
		cfg := base
		reflect.ValueOf(&cfg).Elem().Field(i).Set(reflect.ValueOf(v))
		l, err := rack.NewLocal(cfg)
		if err != nil {
			t.Errorf("NewLocal with %s = %v: %v", f.Name, v, err)
			continue
		}
		got := reflect.ValueOf(l.Config())
		for j := range typ.NumField() {
			name := typ.Field(j).Name
			if name == "Topology" || name == "Servers" {
				continue
			}
			want := def.Field(j)
			if j == i {
				want = reflect.ValueOf(v)
			}
			if !same(got.Field(j), want) {
				t.Errorf("with only %s set: LocalConfig.%s = %v, want %v", f.Name, name, got.Field(j), want)
			}
		}
	}
}

// same compares config values; functions by pointer.
func same(a, b reflect.Value) bool {
	if a.Kind() == reflect.Func {
		return a.Pointer() == b.Pointer()
	}
	if a.Kind() == reflect.Pointer {
		return a.Pointer() == b.Pointer()
	}
	return a.Equal(b)
}

func TestValidateNamesTheNewFields(t *testing.T) {
	topo, _ := rack.Pairs("a", "b")
	ok := rack.DefaultLocalConfig()
	ok.Topology, ok.Servers = topo, []rack.Server{{Name: "a"}, {Name: "b"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := map[string]func(*rack.LocalConfig){
		"LocalConfig.FastInterval 0s must be positive, or negative for no fast poll": func(c *rack.LocalConfig) { c.FastInterval = 0 },
		"LocalConfig.StormWindow -1s must be positive":                               func(c *rack.LocalConfig) { c.StormWindow = -time.Second },
		"LocalConfig.HandoverAfter 0s must be positive":                              func(c *rack.LocalConfig) { c.HandoverAfter = 0 },
		"LocalConfig.Now is nil":                                                     func(c *rack.LocalConfig) { c.Now = nil },
		"LocalConfig.Logger is nil":                                                  func(c *rack.LocalConfig) { c.Logger = nil },
	}
	for want, edit := range cases {
		cfg := ok
		edit(&cfg)
		if err := cfg.Validate(); !errors.Is(err, rack.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want ErrInvalidConfig naming %q", err, want)
		}
	}
	// Through NewLocal, zero means the default; negative values stay
	// wrong.
	cfg := rack.LocalConfig{Topology: topo, Servers: ok.Servers, HandoverAfter: -time.Second}
	if _, err := rack.NewLocal(cfg); err == nil || !strings.Contains(err.Error(), "LocalConfig.HandoverAfter -1s") {
		t.Errorf("NewLocal with HandoverAfter -1s: %v", err)
	}
}
