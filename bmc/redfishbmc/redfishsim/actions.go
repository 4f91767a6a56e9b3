package redfishsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// action carries out a POST to an advertised action target.
func (s *Server) action(w http.ResponseWriter, r *http.Request, ref actionRef) {
	var body map[string]any
	if err := readBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "MalformedJSON", "malformed JSON: "+err.Error())
		return
	}
	switch {
	case ref.name == "#LogService.ClearLog":
		s.clearLog(w, ref)
	case strings.HasSuffix(ref.name, ".Reset"):
		s.reset(w, ref, body)
	case ref.name == "#EventService.SubmitTestEvent":
		ev := Event{Severity: "OK", MessageID: "TestEvent.1.0.TestEvent", Message: "test event"}
		if v, _ := body["MessageId"].(string); v != "" {
			ev.MessageID = v
		}
		if v, _ := body["Message"].(string); v != "" {
			ev.Message = v
		}
		if v, _ := body["Severity"].(string); v != "" {
			ev.Severity = v
		}
		if v, _ := body["OriginOfCondition"].(string); v != "" {
			ev.Origin = v
		}
		s.Publish(ev)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusNotImplemented, "ActionNotSupported", ref.name+" is not simulated")
	}
}

// reset applies a ComputerSystem (or Chassis) Reset to PowerState and Status.
func (s *Server) reset(w http.ResponseWriter, ref actionRef, body map[string]any) {
	rt, _ := body["ResetType"].(string)
	s.mu.Lock()
	delete(s.stale, ref.resource) // a command makes the BMC look again
	res, ok := s.res[ref.resource]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "ResourceMissingAtURI", "no resource at "+ref.resource)
		return
	}
	acts, _ := res["Actions"].(map[string]any)
	act, _ := acts[ref.name].(map[string]any)
	if allowed, ok := act["ResetType@Redfish.AllowableValues"].([]any); ok && !slices.Contains(allowed, any(rt)) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "ActionParameterNotSupported", "ResetType "+rt+" not allowed")
		return
	}
	cur, _ := res["PowerState"].(string)
	var final string
	switch rt {
	case "On", "ForceOn":
		final = "On"
	case "ForceOff", "GracefulShutdown":
		final = "Off"
	case "ForceRestart", "GracefulRestart", "PowerCycle":
		final = "On"
	case "PushPowerButton":
		final = "On"
		if cur == "On" {
			final = "Off"
		}
	case "Nmi":
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "ActionParameterMissing", "ResetType missing or unknown: "+rt)
		return
	}
	if final == "Off" && cur == "Off" && s.opts.ConflictWhenOff {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "ResourceInUse", "system is already off")
		return
	}
	if s.opts.ResetDelay > 0 {
		res["PowerState"] = "Powering" + final
		time.AfterFunc(s.opts.ResetDelay, func() { s.setPower(ref.resource, final) })
		s.mu.Unlock()
	} else {
		s.mu.Unlock()
		s.setPower(ref.resource, final)
	}
	w.WriteHeader(http.StatusNoContent)
}

// setPower sets PowerState and Status.State, and publishes the change
// when Options.EventsOnReset.
func (s *Server) setPower(p, final string) {
	s.mu.Lock()
	res, ok := s.res[p]
	if !ok {
		s.mu.Unlock()
		return
	}
	res["PowerState"] = final
	st, _ := res["Status"].(map[string]any)
	if st == nil {
		st = map[string]any{}
		res["Status"] = st
	}
	if final == "Off" {
		st["State"] = "StandbyOffline"
	} else {
		st["State"] = "Enabled"
	}
	s.mu.Unlock()
	if s.opts.EventsOnReset {
		s.Publish(Event{Origin: p, MessageID: "ResourceEvent.1.0.ResourceStatusChangedOK",
			Message: "power state changed to " + final, Severity: "OK"})
	}
}

// clearLog empties the Entries collection of a LogService.
func (s *Server) clearLog(w http.ResponseWriter, ref actionRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.res[ref.resource]
	ents, _ := svc["Entries"].(map[string]any)
	coll, _ := ents["@odata.id"].(string)
	c, ok := s.res[clean(coll)]
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceMissingAtURI", "log service "+ref.resource+" has no Entries")
		return
	}
	ms, _ := c["Members"].([]any)
	for _, m := range ms {
		if mm, _ := m.(map[string]any); mm != nil {
			if id, _ := mm["@odata.id"].(string); id != "" {
				delete(s.res, clean(id))
			}
		}
	}
	c["Members"] = []any{}
	c["Members@odata.count"] = json.Number("0")
	w.WriteHeader(http.StatusNoContent)
}

// AddLogEntry appends entry to the LogEntry collection at coll, as the
// service logging something: the entry gets an Id, an @odata.id and a
// Created time unless it has them, and is kept both as a resource and
// inline in the collection (services expand log members). It returns
// the entry's path.
func (s *Server) AddLogEntry(coll string, entry map[string]any) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	coll = clean(coll)
	c, ok := s.res[coll]
	if !ok {
		return "", fmt.Errorf("redfishsim: no collection %s", coll)
	}
	e := deepCopy(entry).(map[string]any)
	id, _ := e["Id"].(string)
	if id == "" {
		s.nextID++
		id = fmt.Sprint(s.nextID)
	}
	p := coll + "/" + id
	e["Id"], e["@odata.id"] = id, p
	if _, ok := e["@odata.type"]; !ok {
		e["@odata.type"] = "#LogEntry.v1_15_0.LogEntry"
	}
	if _, ok := e["Created"]; !ok {
		e["Created"] = time.Now().UTC().Format(time.RFC3339)
	}
	s.res[p] = e
	ms, _ := c["Members"].([]any)
	c["Members"] = append(ms, deepCopy(e))
	c["Members@odata.count"] = json.Number(fmt.Sprint(len(ms) + 1))
	return p, nil
}
