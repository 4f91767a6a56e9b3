package failover

import (
	"fmt"
	"math"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

// Predictive evacuation. Per voltage and temperature sensor the engine
// keeps the last Policy.PredictWindow full-status values in 8 blocks and
// estimates, at each closed block:
//
//   - each block's median (a glitch of under half a block is ignored);
//   - a Theil–Sen slope (the median of the pairwise slopes) over the 8
//     block medians: the window's rate; and over the older 4 and the
//     newer 4;
//   - the level now (the median of the newer blocks carried to now).
//
// A rise that slows down is read as an exponential approach to an
// equilibrium (Newton's law of cooling, which both a fan failure and a
// load change follow): from the two slopes, a time constant and the
// equilibrium. When the equilibrium lies inside the threshold, nothing is
// predicted; otherwise the time to the threshold follows from the
// exponential, or, for a steady or speeding rise, from the line. A
// sensor is on course when that time is below the lead and its rate is
// at least Policy.PredictMinRate, unless it moved away from that
// threshold within Policy.PredictReversal (it swings); held for
// Policy.PredictDwell, the server is evacuated as a degraded one. A
// sensor followed for less than PredictReversal (since the engine
// started, or since a gap) has not had the time to show that it swings:
// its lead is cut in proportion, as a random walk (a healthy load
// wandering) climbs as steadily as a fan failure over a minute or two.
// Correctable memory errors are counted per server over
// Policy.PredictECCWindow. docs/predict.md says why.
//
// The cost is one value stored per sensor per status, and per closed
// block a sort of 8 values and of 4 slopes (a first look at the rate);
// only a sensor moving toward a threshold at half the least rate that
// counts or more gets the Theil–Sen slopes (selections among 28 and
// twice 6). Nothing is allocated once every sensor has been seen.

const predictBlocks = 8

// predictor is a watched server's prediction state.
type predictor struct {
	trends []trend
	ecc    eccCount
}

// trend is one sensor's recent history and prediction.
type trend struct {
	name    string
	off     bool
	lead    time.Duration
	minRate float64 // fraction of the threshold's magnitude per minute

	vals  []float64 // the open block, allocated once
	n     int       // values in the open block
	first int64     // the open block's first value, Unix ns
	last  int64     // the last value, Unix ns; 0 before the first

	base   int64                  // origin of at, Unix ns
	med    [predictBlocks]float64 // closed blocks' medians, oldest first
	at     [predictBlocks]float64 // their mid times, seconds since base
	closed int                    // closed blocks held (at most predictBlocks)
	since  time.Time              // when the prediction began to hold, or zero
	// latched: this prediction already evacuated the server; it does not
	// again until it clears.
	latched bool
	// awayUp, awayLo: when the sensor was last seen moving away from its
	// upper (lower) threshold at the least rate or faster, Unix ns.
	awayUp, awayLo int64
}

// forecast is a trend's prediction at one closed block.
type forecast struct {
	due       bool
	eta       float64 // seconds to the threshold
	lead      float64 // the lead it was held to, seconds
	rate      float64 // per second, signed
	level     float64
	threshold float64
}

// eccCount is a ring of the times correctable memory errors came.
type eccCount struct {
	at      []time.Time // allocated at the first error
	head, n int
	latched bool
}

// predictStatus feeds one status of a watched server that detected
// nothing, and starts a predicted takeover when a prediction is due.
func (e *Engine) predictStatus(now time.Time, ps *peerState, st *rack.Status) {
	if !e.p.Predict {
		return
	}
	pr := &ps.pred
	best := -1 // index in pr.trends (which may grow meanwhile)
	var bestF forecast
	var bestR *sensor.Reading
	if !st.Fast {
		next := 0
		nowNS := now.UnixNano()
		maxGap := int64(time.Duration(e.p.PredictWindow/predictBlocks) * e.p.MaxStatusGap)
		for i := range st.Readings {
			r := &st.Readings[i]
			if r.Status != sensor.StatusOK || (r.Kind != sensor.KindTemperature && r.Kind != sensor.KindVoltage) {
				continue
			}
			var tr *trend
			tr, next = e.trendOf(pr, r.Name, next)
			if tr == nil || tr.off || !tr.add(nowNS, r.Value, maxGap) {
				continue
			}
			f := e.forecast(tr, nowNS, r, ps.danger[r.Name])
			if !f.due {
				tr.since, tr.latched = time.Time{}, false
				continue
			}
			if tr.latched {
				continue
			}
			if tr.since.IsZero() {
				tr.since = now
			}
			if now.Sub(tr.since) >= e.p.PredictDwell && (best < 0 || f.eta < bestF.eta) {
				best, bestF, bestR = next-1, f, r
			}
		}
	}
	ecc := e.p.PredictECCLimit > 0 && st.HealthErr == "" && e.countECC(now, &pr.ecc, st.Health.Events)
	switch {
	case best >= 0:
		// Every trend on course now is answered by this evacuation.
		for i := range pr.trends {
			if t := &pr.trends[i]; !t.since.IsZero() || i == best {
				t.since, t.latched = time.Time{}, true
			}
		}
		tr := &pr.trends[best]
		cause := CauseTemperature
		if bestR.Kind == sensor.KindVoltage {
			cause = CauseVoltage
		}
		eta := time.Duration(bestF.eta * float64(time.Second))
		e.predictedDetected(now, ps, cause, Event{Sensor: tr.name, Value: bestF.level, Unit: bestR.Unit,
			Threshold: bestF.threshold, Rate: bestF.rate * 60, Crossing: now.Add(eta).Round(time.Millisecond),
			Message: fmt.Sprintf("predicted to reach %.4g%s in %v (lead %v)", bestF.threshold, bestR.Unit,
				eta.Round(time.Second), time.Duration(bestF.lead*float64(time.Second)).Round(time.Second))})
	case ecc:
		c := &pr.ecc
		c.latched = true
		rate := float64(c.n)
		if span := now.Sub(c.at[c.head]); span > time.Minute {
			rate = float64(c.n) / span.Minutes()
		}
		e.predictedDetected(now, ps, CauseCorrectableECC, Event{Sensor: "correctable ECC", Value: float64(c.n),
			Threshold: float64(e.p.PredictECCLimit), Rate: rate,
			Message: fmt.Sprintf("%d correctable memory errors within %v (limit %d)", c.n, e.p.PredictECCWindow, e.p.PredictECCLimit)})
	}
}

// maxTrends bounds the sensors followed per server: a BMC that named its
// sensors anew at each poll must not grow the engine without end.
const maxTrends = 512

// trendOf finds the trend of sensor name, looking first where the
// previous sensor's trend ended (statuses list sensors in the same order),
// and adds one the first time a sensor is seen (nil past maxTrends).
func (e *Engine) trendOf(pr *predictor, name string, next int) (*trend, int) {
	if next < len(pr.trends) && pr.trends[next].name == name {
		return &pr.trends[next], next + 1
	}
	for j := range pr.trends {
		if pr.trends[j].name == name {
			return &pr.trends[j], j + 1
		}
	}
	if len(pr.trends) >= maxTrends {
		return nil, next
	}
	t := trend{name: name, lead: e.p.PredictLead, minRate: e.p.PredictMinRate,
		vals: make([]float64, e.p.PredictWindow/predictBlocks)}
	if rule, ok := e.p.PredictSensors[name]; ok {
		t.off = rule.Off
		if rule.Lead > 0 {
			t.lead = rule.Lead
		}
		if rule.MinRate > 0 {
			t.minRate = rule.MinRate
		}
	}
	pr.trends = append(pr.trends, t)
	return &pr.trends[len(pr.trends)-1], len(pr.trends)
}

// add stores a value taken at now (Unix ns) and reports whether it
// closed a block. After a gap longer than maxGap (ns) the history starts
// over: what happened meanwhile was not seen.
func (t *trend) add(now int64, v float64, maxGap int64) bool {
	if t.last != 0 && (now-t.last > maxGap || now < t.last) {
		t.n, t.closed, t.since = 0, 0, time.Time{}
	}
	if t.closed == 0 && t.n == 0 {
		t.base = now
	}
	t.last = now
	if t.n == 0 {
		t.first = now
	}
	t.vals[t.n] = v
	t.n++
	if t.n < len(t.vals) {
		return false
	}
	if t.closed == predictBlocks {
		copy(t.med[:], t.med[1:])
		copy(t.at[:], t.at[1:])
		t.closed--
	}
	t.med[t.closed] = median(t.vals)
	t.at[t.closed] = float64((t.first-t.base)+(now-t.base)) / 2 / 1e9
	t.closed++
	t.n = 0
	return true
}

// forecast predicts when the sensor reaches its danger threshold. A
// sensor already in danger is left to threshold detection.
func (e *Engine) forecast(t *trend, now int64, r *sensor.Reading, inDanger bool) forecast {
	var f forecast
	if t.closed < predictBlocks || inDanger {
		return f
	}
	th := &r.Thresholds
	if len(e.p.Overrides) > 0 {
		if o, ok := e.p.Overrides[r.Name]; ok {
			th = &o
		}
	}
	up, lo := dangerLimits(th, e.p.DangerLevel)
	// A first look, cheap: the median of the four slopes between blocks
	// half a window apart. Most sensors stop here, moving at under half
	// the least rate that counts.
	const h = predictBlocks / 2
	var lag [h]float64
	for i := range h {
		lag[i] = (t.med[h+i] - t.med[i]) / (t.at[h+i] - t.at[i])
	}
	quick := median(lag[:])
	least := func(lim sensor.Limit) float64 { return t.minRate * math.Abs(lim.Value) / 60 }
	if up.Set && -quick >= least(up) {
		t.awayUp = now
	}
	if lo.Set && quick >= least(lo) {
		t.awayLo = now
	}
	// A sensor that moved away from a threshold within
	// Policy.PredictReversal swings (a load, a regulator hunting): it is
	// not predicted to cross it.
	calm := func(away int64) bool { return away == 0 || now-away > int64(e.p.PredictReversal) }
	up.Set = up.Set && calm(t.awayUp)
	lo.Set = lo.Set && calm(t.awayLo)
	if !(up.Set && 2*quick >= least(up)) && !(lo.Set && -2*quick >= least(lo)) {
		return f
	}
	rate, sOld, sNew := t.theilSen()
	nowS := float64(now-t.base) / 1e9
	var lv [h]float64
	var tOld, tNew float64
	for i := range h {
		lv[i] = t.med[h+i] + rate*(nowS-t.at[h+i])
		tOld += t.at[i] / h
		tNew += t.at[h+i] / h
	}
	level := median(lv[:])
	delta := tNew - tOld
	f.eta, f.rate, f.level = math.Inf(1), rate, level
	try := func(lim sensor.Limit, sign float64) {
		if !lim.Set || sign*rate < least(lim) {
			return
		}
		if eta := project(sign*(lim.Value-level), sign*rate, sign*sNew, sign*sOld, delta, 3*least(lim)); eta < f.eta {
			f.eta, f.threshold = eta, lim.Value
		}
	}
	try(up, 1)
	try(lo, -1)
	lead := t.lead.Seconds()
	if rev := e.p.PredictReversal; rev > 0 && now-t.base < int64(rev) {
		// Followed for less than PredictReversal, a sensor has not had the
		// time to show whether it swings: the lead grows with the time
		// it was followed.
		lead *= float64(now-t.base) / float64(rev)
	}
	f.due, f.lead = f.eta < lead, lead
	return f
}

// slowDown is how much faster the older half must have moved than the
// newer for the rise to count as an exponential approach, and by at
// least noise (three times the least rate that counts): the two
// half-window slopes scatter on a straight rise (on the tuning traces,
// at the 0.5 °C steps of IPMI temperature sensors, by up to 2.3 times
// that rate), and a false "levelling off" would hide a real rise. At the
// default window the halves are 32 s apart, so 1.2 takes in approaches
// with time constants up to about 3 min (e^(32/175) = 1.2): load swings
// and heatsinks settling, as well as fan failures, are then judged by
// their equilibrium rather than by a straight line.
const slowDown = 1.2

// project returns the seconds until a value d away from its threshold
// gets there. It moves toward it at v over the window, at vNew over the
// newer half and at vOld over the older, delta seconds earlier. When it
// slows down, along an exponential approach to an equilibrium (never,
// when the equilibrium falls short or it stopped); otherwise along the
// line.
func project(d, v, vNew, vOld, delta, noise float64) float64 {
	if d <= 0 {
		return 0
	}
	if vOld > slowDown*vNew && vOld-vNew > noise && delta > 0 {
		if vNew <= 0 {
			return math.Inf(1)
		}
		tau := delta / math.Log(vOld/vNew)
		reach := vNew * tau // how far it still goes
		if reach <= d {
			return math.Inf(1)
		}
		return -tau * math.Log1p(-d/reach)
	}
	return d / v
}

// theilSen returns the Theil–Sen slopes (the median of the slopes
// between every pair of points) of the closed blocks' medians, of the
// older half's and of the newer half's. The halves' pairs are among the
// window's: each slope is computed once.
func (t *trend) theilSen() (all, older, newer float64) {
	const h = predictBlocks / 2
	var s [predictBlocks * (predictBlocks - 1) / 2]float64
	var o, w [h * (h - 1) / 2]float64
	n, no, nw := 0, 0, 0
	for i := range predictBlocks {
		for j := i + 1; j < predictBlocks; j++ {
			dx := t.at[j] - t.at[i]
			if dx <= 0 {
				continue
			}
			v := (t.med[j] - t.med[i]) / dx
			s[n] = v
			n++
			switch {
			case j < h:
				o[no] = v
				no++
			case i >= h:
				w[nw] = v
				nw++
			}
		}
	}
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return median(v)
	}
	return med(s[:n]), med(o[:no]), med(w[:nw])
}

// median reorders v and returns its median: by insertion sort when v is
// short, else by selection (Hoare's quickselect), without allocating.
func median(v []float64) float64 {
	n := len(v)
	if n <= 8 {
		for i := 1; i < n; i++ {
			for j := i; j > 0 && v[j] < v[j-1]; j-- {
				v[j], v[j-1] = v[j-1], v[j]
			}
		}
		if n%2 == 1 {
			return v[n/2]
		}
		return (v[n/2-1] + v[n/2]) / 2
	}
	m := selectKth(v, n/2)
	if n%2 == 1 {
		return m
	}
	lower := v[0] // the largest of v[:n/2], all at most m
	for _, x := range v[1 : n/2] {
		lower = max(lower, x)
	}
	return (lower + m) / 2
}

// selectKth reorders v so that v[k] is its k-th smallest value, the
// values before it no larger and those after no smaller, and returns it.
func selectKth(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		pivot := v[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// countECC counts the correctable memory errors in events and reports
// whether more than Policy.PredictECCLimit came within
// Policy.PredictECCWindow, not reported before.
func (e *Engine) countECC(now time.Time, c *eccCount, events []bmc.Event) bool {
	for i := range events {
		if events[i].Kind != bmc.EventCorrectableECC {
			continue
		}
		if c.at == nil {
			c.at = make([]time.Time, e.p.PredictECCLimit+1)
		}
		c.at[(c.head+c.n)%len(c.at)] = now
		if c.n < len(c.at) {
			c.n++
		} else {
			c.head = (c.head + 1) % len(c.at)
		}
	}
	for c.n > 0 && now.Sub(c.at[c.head]) > e.p.PredictECCWindow {
		c.head = (c.head + 1) % len(c.at)
		c.n--
	}
	if c.n <= e.p.PredictECCLimit {
		c.latched = false
		return false
	}
	return !c.latched
}

// predictedDetected starts a predicted takeover: the server is treated as
// degraded (evacuated while it runs), but never fenced.
func (e *Engine) predictedDetected(now time.Time, ps *peerState, cause Cause, ev Event) {
	e.resetTakeover(now, ps, cause)
	ps.degraded, ps.predicted = true, true
	ev.Type, ev.Cause, ev.Predicted = EventDetected, cause, true
	e.notify(now, ps, ev)
	ps.phase = PhaseInventory
	e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name})
}

// proceedPredicted is proceed for a predicted takeover that cannot
// evacuate: it only alerts.
func (e *Engine) proceedPredicted(now time.Time, ps *peerState) {
	why := "it owns no VMs"
	switch {
	case !e.p.Evacuate:
		why = "evacuation is off (Policy.Evacuate)"
	case !ps.canEvacuate:
		why = "its hypervisor cannot checkpoint"
	}
	names := make([]string, len(ps.vms))
	for i := range ps.vms {
		names[i] = ps.vms[i].img.Name
	}
	e.endPredicted(now, ps, names, fmt.Sprintf("predicted failure: not evacuated, %s; a prediction never fences: VMs left in place", why))
}

// finishPredicted is finish for a predicted takeover: what could not be
// checkpointed stays where it runs, and the server is neither fenced nor
// restarted; once the VMs are moved it is watched again.
func (e *Engine) finishPredicted(now time.Time, ps *peerState, fence bool) {
	if fence {
		for i := range ps.vms {
			if v := &ps.vms[i]; v.phase == vmNeedsFence || v.phase == vmWaitFence {
				v.phase = vmFailed
				e.alert(now, ps, ps.cause, v.img.Name, "left in place: not checkpointed, and a prediction never fences")
			}
		}
	}
	if !ps.stable {
		if ps.retryAt.IsZero() && !ps.reading {
			ps.reading = true
			e.readFenced(ps)
		}
		return
	}
	var left []string
	moved := 0
	for i := range ps.vms {
		if ps.vms[i].phase == vmRunning {
			moved++
		} else {
			left = append(left, ps.vms[i].img.Name)
		}
	}
	e.endPredicted(now, ps, left, fmt.Sprintf("predicted failure: %d of %d VMs moved to %s; the server is left running and watched, service it",
		moved, len(ps.vms), e.self))
}

// endPredicted alerts and returns a predicted takeover to watching.
func (e *Engine) endPredicted(now time.Time, ps *peerState, vms []string, msg string) {
	e.notify(now, ps, Event{Type: EventAlert, Cause: ps.cause, VMs: vms, Predicted: true, Message: msg})
	ps.phase = PhaseWatching
	ps.count, ps.fastN, ps.healthy = [numCauses]int{}, [numCauses]int{}, 0
	ps.detectedAt, ps.cause, ps.vms, ps.noRoom = time.Time{}, CauseNone, nil, nil
	ps.degraded, ps.predicted = false, false
}

// thenFence says what happens to a VM that was not checkpointed: fence
// (in these words), or for a prediction nothing.
func (ps *peerState) thenFence(fence string) string {
	if ps.predicted {
		return "left in place (a prediction never fences)"
	}
	return fence
}

// validatePredict is Validate for the prediction fields; bad words the
// error.
func (p Policy) validatePredict(bad func(field string, v any, want string) error) error {
	if !p.Predict {
		return nil
	}
	rate := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v > 0 }
	switch {
	case p.PredictWindow < 16 || p.PredictWindow > 4096 || p.PredictWindow%predictBlocks != 0:
		return bad("PredictWindow", p.PredictWindow, "must be a multiple of 8 in [16, 4096]")
	case p.PredictLead <= 0:
		return bad("PredictLead", p.PredictLead, "must be positive")
	case !rate(p.PredictMinRate):
		return bad("PredictMinRate", p.PredictMinRate, "must be a positive number")
	case p.PredictDwell < 0:
		return bad("PredictDwell", p.PredictDwell, "must not be negative")
	case p.PredictReversal < 0:
		return bad("PredictReversal", p.PredictReversal, "must not be negative")
	case p.PredictECCLimit < 0 || p.PredictECCLimit > 4096:
		return bad("PredictECCLimit", p.PredictECCLimit, "must be in [0, 4096]")
	case p.PredictECCLimit > 0 && p.PredictECCWindow <= 0:
		return bad("PredictECCWindow", p.PredictECCWindow, "must be positive")
	}
	for name, r := range p.PredictSensors {
		switch {
		case r.Lead < 0:
			return bad(fmt.Sprintf("PredictSensors[%q].Lead", name), r.Lead, "must not be negative")
		case r.MinRate != 0 && !rate(r.MinRate):
			return bad(fmt.Sprintf("PredictSensors[%q].MinRate", name), r.MinRate, "must be a positive number, or 0 for the policy's")
		}
	}
	return nil
}
