package redfishbmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// readPlan lists the resources one Readings call fetches; it is built
// once from the system's chassis links and rebuilt after an error.
type readPlan struct {
	sources []planSource
}

type planSource struct {
	sensors bool   // a Sensors collection; otherwise a Thermal or Power resource
	path    string // resource path
	prefix  string // "" for the blade's own chassis, "<enclosure Id>: " for its enclosure
	filter  filterFunc
}

// chassisDoc is the part of a Chassis the adapter reads.
type chassisDoc struct {
	ODataID string `json:"@odata.id"`
	ID      string `json:"Id"`
	Sensors *odataRef
	Thermal *odataRef
	Power   *odataRef
	Links   struct {
		ContainedBy *odataRef
	}
}

func (c *chassisDoc) sources(prefix string, filter filterFunc) []planSource {
	if c.Sensors != nil && c.Sensors.ID != "" {
		return []planSource{{sensors: true, path: c.Sensors.ID, prefix: prefix, filter: filter}}
	}
	var out []planSource
	for _, r := range []*odataRef{c.Thermal, c.Power} {
		if r != nil && r.ID != "" {
			out = append(out, planSource{path: r.ID, prefix: prefix, filter: filter})
		}
	}
	return out
}

// buildPlan follows system -> Links.Chassis -> Links.ContainedBy.
func (b *BMC) buildPlan(ctx context.Context) (*readPlan, error) {
	var sys systemDoc
	if err := b.getJSON(ctx, b.sys.Path, &sys); err != nil {
		return nil, err
	}
	if len(sys.Links.Chassis) == 0 {
		return nil, fmt.Errorf("%w: system %s links to no chassis", bmc.ErrMalformed, b.sys.Path)
	}
	mine := map[string]bool{norm(b.sys.Path): true}
	var own []chassisDoc
	for _, l := range sys.Links.Chassis {
		if mine[norm(l.ID)] {
			continue
		}
		var c chassisDoc
		if err := b.getJSON(ctx, l.ID, &c); err != nil {
			return nil, err
		}
		mine[norm(l.ID)] = true
		own = append(own, c)
	}
	p := &readPlan{}
	for _, c := range own {
		prefix := ""
		if len(own) > 1 {
			prefix = c.ID + ": "
		}
		p.sources = append(p.sources, c.sources(prefix, nil)...)
	}
	related := func(items []odataRef) bool {
		if len(items) == 0 {
			return true // enclosure-wide
		}
		for _, it := range items {
			if mine[norm(it.ID)] {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	for _, c := range own {
		encl := c.Links.ContainedBy
		if encl == nil || encl.ID == "" || mine[norm(encl.ID)] || seen[norm(encl.ID)] {
			continue
		}
		seen[norm(encl.ID)] = true
		var e chassisDoc
		if err := b.getJSON(ctx, encl.ID, &e); err != nil {
			return nil, err
		}
		p.sources = append(p.sources, e.sources(firstOf(e.ID, path.Base(norm(encl.ID)))+": ", related)...)
	}
	return p, nil
}

// norm drops a fragment and a trailing slash from a link.
func norm(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, "/")
}

// Readings returns the blade's readings and those its enclosure reports
// for it (see the package documentation). When some resources fail, the
// readings of the others are returned together with an error saying
// what failed; sensors that could not be read are StatusUnavailable.
func (b *BMC) Readings(ctx context.Context) ([]sensor.Reading, error) {
	b.planMu.Lock()
	p := b.plan
	b.planMu.Unlock()
	if p == nil {
		var err error
		if p, err = b.buildPlan(ctx); err != nil {
			return nil, err
		}
		b.planMu.Lock()
		b.plan = p
		b.planMu.Unlock()
	}
	var out []sensor.Reading
	var errs []error
	for _, src := range p.sources {
		rs, es := b.readSource(ctx, src)
		for i := range rs {
			rs[i].Name = src.prefix + rs[i].Name
		}
		out = append(out, rs...)
		errs = append(errs, es...)
	}
	if len(errs) == 0 {
		return out, nil
	}
	b.planMu.Lock()
	b.plan = nil // links may have moved: rebuild next time
	b.planMu.Unlock()
	sentinel := bmc.ErrMalformed
	for _, e := range errs {
		if errors.Is(e, bmc.ErrUnreachable) {
			sentinel = bmc.ErrUnreachable
			break
		}
	}
	first := strings.TrimPrefix(strings.TrimPrefix(errs[0].Error(), bmc.ErrUnreachable.Error()+": "), bmc.ErrMalformed.Error()+": ")
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no readings: %s", sentinel, first)
	}
	return out, fmt.Errorf("%w: partial readings, %d part(s) failed; first: %s", sentinel, len(errs), first)
}

// readSource fetches one Sensors collection, Thermal or Power resource.
func (b *BMC) readSource(ctx context.Context, src planSource) ([]sensor.Reading, []error) {
	if !src.sensors {
		var raw json.RawMessage
		if err := b.getJSON(ctx, src.path, &raw); err != nil {
			return nil, []error{err}
		}
		rs, errs := decodeLegacy(raw, time.Now(), src.filter)
		for i, e := range errs {
			errs[i] = fmt.Errorf("%s: %w", src.path, e)
		}
		return rs, errs
	}
	var coll collectionDoc
	if err := b.getJSON(ctx, src.path, &coll); err != nil {
		return nil, []error{err}
	}
	type result struct {
		r    sensor.Reading
		keep bool
		err  error
	}
	res := make([]result, len(coll.Members))
	sem := make(chan struct{}, b.cfg.MaxConcurrentRequests)
	var wg sync.WaitGroup
	for i, m := range coll.Members {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var raw json.RawMessage
			if err := b.getJSON(ctx, m.ID, &raw); err != nil {
				// Unread sensors are unavailable, never dropped.
				res[i] = result{r: sensor.Reading{Name: path.Base(norm(m.ID)), Status: sensor.StatusUnavailable, Time: time.Now()}, keep: true, err: err}
				return
			}
			r, keep, err := decodeSensor(raw, time.Now(), src.filter)
			if err != nil {
				err = fmt.Errorf("%s: %w", m.ID, err)
				if r.Name == "" {
					r = sensor.Reading{Name: path.Base(norm(m.ID)), Status: sensor.StatusUnavailable, Time: time.Now()}
				}
			}
			res[i] = result{r, keep, err}
		}()
	}
	wg.Wait()
	var out []sensor.Reading
	var errs []error
	for _, x := range res {
		if x.keep {
			out = append(out, x.r)
		}
		if x.err != nil {
			errs = append(errs, x.err)
		}
	}
	return out, errs
}
