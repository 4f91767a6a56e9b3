package redfishsim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := clean(r.URL.Path)
	s.mu.Lock()
	s.counts[r.Method+" "+p]++
	f := s.takeFault(r.Method, p)
	s.mu.Unlock()
	if f != nil && s.applyFault(w, r, f) {
		return
	}
	if p == "/redfish" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"v1": Root + "/"})
		return
	}
	if !s.authorized(r, p) {
		w.Header().Set("WWW-Authenticate", `Basic realm="redfishsim"`)
		writeError(w, http.StatusUnauthorized, "NoValidSession", "no valid session")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.get(w, r, p)
	case http.MethodPatch:
		s.patch(w, r, p)
	case http.MethodPost:
		s.post(w, r, p)
	case http.MethodDelete:
		s.delete(w, p)
	default:
		writeError(w, http.StatusMethodNotAllowed, "OperationNotAllowed", r.Method+" not allowed")
	}
}

// authorized: public paths, a valid token, or basic auth when allowed.
func (s *Server) authorized(r *http.Request, p string) bool {
	if s.opts.Username == "" {
		return true
	}
	if r.Method == http.MethodGet && (p == Root || p == Root+"/$metadata" || p == Root+"/odata") {
		return true
	}
	if r.Method == http.MethodPost && p == s.sessionsPath() {
		return true
	}
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		s.mu.Lock()
		_, ok := s.tokens[tok]
		s.mu.Unlock()
		return ok
	}
	if u, pw, ok := r.BasicAuth(); ok && s.opts.AllowBasicAuth {
		return s.credsOK(u, pw)
	}
	return false
}

func (s *Server) credsOK(u, pw string) bool {
	return subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pw), []byte(s.opts.Password)) == 1
}

func (s *Server) sessionsPath() string { return Root + "/SessionService/Sessions" }

func (s *Server) get(w http.ResponseWriter, r *http.Request, p string) {
	if p == s.sseURI && s.sseURI != "" {
		s.serveSSE(w, r)
		return
	}
	s.mu.Lock()
	res, ok := s.res[p]
	var b []byte
	var err error
	if st, isStale := s.stale[p]; ok && isStale {
		shown := make(map[string]any, len(res))
		for k, v := range res {
			shown[k] = v
		}
		shown["PowerState"] = st
		res = shown
	}
	if ok {
		b, err = json.Marshal(res)
	}
	raw, rawOK := s.raw[p]
	s.mu.Unlock()
	switch {
	case ok && err == nil:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("OData-Version", "4.0")
		_, _ = w.Write(b)
	case ok:
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
	case rawOK:
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(raw)
	default:
		writeError(w, http.StatusNotFound, "ResourceMissingAtURI", "no resource at "+p)
	}
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, p string) {
	var body map[string]any
	if err := readBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "MalformedJSON", "malformed JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	res, ok := s.res[p]
	if ok {
		merge(res, body)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceMissingAtURI", "no resource at "+p)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, p string) {
	s.mu.Lock()
	ref, isAction := s.actions[p]
	s.mu.Unlock()
	if isAction {
		s.action(w, r, ref)
		return
	}
	var body map[string]any
	if err := readBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "MalformedJSON", "malformed JSON: "+err.Error())
		return
	}
	if p == s.sessionsPath() {
		s.login(w, body)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	coll, ok := s.res[p]
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceMissingAtURI", "no resource at "+p)
		return
	}
	if _, isColl := coll["Members"]; !isColl {
		writeError(w, http.StatusMethodNotAllowed, "OperationNotAllowed", "POST to a resource that is not a collection")
		return
	}
	id, _ := body["Id"].(string)
	if id == "" || strings.ContainsAny(id, "/?#") {
		s.nextID++
		id = fmt.Sprint(s.nextID)
	}
	member := p + "/" + id
	body["Id"] = id
	body["@odata.id"] = member
	s.res[member] = body
	s.addMember(p, member)
	w.Header().Set("Location", member)
	writeJSON(w, http.StatusCreated, body)
}

// addMember appends member to a collection; s.mu held.
func (s *Server) addMember(coll, member string) {
	c := s.res[coll]
	ms, _ := c["Members"].([]any)
	c["Members"] = append(ms, map[string]any{"@odata.id": member})
	c["Members@odata.count"] = json.Number(fmt.Sprint(len(ms) + 1))
}

// removeMember drops member from a collection; s.mu held.
func (s *Server) removeMember(coll, member string) {
	c, ok := s.res[coll]
	if !ok {
		return
	}
	ms, _ := c["Members"].([]any)
	out := ms[:0:0]
	for _, m := range ms {
		if mm, _ := m.(map[string]any); mm["@odata.id"] != member {
			out = append(out, m)
		}
	}
	c["Members"] = out
	c["Members@odata.count"] = json.Number(fmt.Sprint(len(out)))
}

func (s *Server) delete(w http.ResponseWriter, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.res[p]; !ok {
		writeError(w, http.StatusNotFound, "ResourceMissingAtURI", "no resource at "+p)
		return
	}
	delete(s.res, p)
	parent := p[:strings.LastIndex(p, "/")]
	s.removeMember(parent, p)
	for tok, sp := range s.tokens {
		if sp == p {
			delete(s.tokens, tok)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) login(w http.ResponseWriter, body map[string]any) {
	u, _ := body["UserName"].(string)
	pw, _ := body["Password"].(string)
	if s.opts.Username != "" && !s.credsOK(u, pw) {
		writeError(w, http.StatusUnauthorized, "InvalidCredentials", "invalid credentials")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MaxSessions > 0 && len(s.tokens) >= s.opts.MaxSessions {
		s.refusedLogins++
		writeError(w, http.StatusServiceUnavailable, "SessionLimitExceeded",
			fmt.Sprintf("the number of simultaneous sessions exceeds the limit of %d", s.opts.MaxSessions))
		return
	}
	s.logins++
	tok := newToken()
	id := newToken()[:16]
	p := s.sessionsPath() + "/" + id
	sess := map[string]any{
		"@odata.type": "#Session.v1_0_0.Session", "@odata.id": p,
		"Id": id, "Name": "User Session", "UserName": u,
	}
	s.res[p] = sess
	if _, ok := s.res[s.sessionsPath()]; ok {
		s.addMember(s.sessionsPath(), p)
	}
	s.tokens[tok] = p
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", p)
	if s.loginLoc != "" {
		w.Header().Set("Location", s.loginLoc)
	}
	writeJSON(w, http.StatusCreated, sess)
}

// Sessions returns how many session tokens are valid.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// Logins returns how many logins succeeded, and how many were refused
// by Options.MaxSessions.
func (s *Server) Logins() (ok, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.refusedLogins
}

// Tokens returns the valid session tokens (tests look for leaks).
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for tok := range s.tokens {
		out = append(out, tok)
	}
	return out
}

// ExpireSessions invalidates every token, as a session timeout does.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, p := range s.tokens {
		delete(s.res, p)
		s.removeMember(s.sessionsPath(), p)
		delete(s.tokens, tok)
	}
}
