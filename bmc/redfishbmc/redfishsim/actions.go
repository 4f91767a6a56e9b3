package redfishsim

import (
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
