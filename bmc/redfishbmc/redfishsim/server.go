package redfishsim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Root is the path of the service root.
const Root = "/redfish/v1"

// maxRequestBody bounds what the server reads of a request.
const maxRequestBody = 1 << 20

// Options change how a Server behaves. The zero value serves the mockup
// without authentication.
type Options struct {
	// Username and Password, when Username is set, are the one account
	// the SessionService accepts; every resource but /redfish, the
	// service root and $metadata then needs a token (or basic auth).
	Username, Password string
	// AllowBasicAuth accepts HTTP basic auth besides session tokens.
	AllowBasicAuth bool
	// NoSSE leaves the EventService without a ServerSentEventUri.
	NoSSE bool
	// ConflictWhenOff answers 409 to a power-off reset of a system that is
	// already off, as some services do.
	ConflictWhenOff bool
	// ResetDelay: a reset first sets PowerState to PoweringOn/PoweringOff
	// and reaches its final state this much later. Zero: at once.
	ResetDelay time.Duration
	// Heartbeat: the SSE stream sends a comment line this often. Zero: never.
	Heartbeat time.Duration
	// EventsOnReset publishes a StatusChange event when a reset changes a
	// system's power state, as real services do. Default off, so tests
	// choose their events.
	EventsOnReset bool
	// MaxSessions refuses a login past this many open sessions with 503
	// and Base SessionLimitExceeded, as real BMCs do (many allow 8).
	// Zero: no limit.
	MaxSessions int
	// EventHistory is how many published events the server keeps to
	// replay to a stream that reconnects with Last-Event-ID. Zero: 256.
	EventHistory int
	// Overlays are folders in mockup layout (URI folders holding
	// index.json) laid over the mockup in order: each resource is merged
	// into the mockup's (objects merged, null deleting a property) or
	// added. Project fixtures add what the DMTF mockups lack (a host
	// watchdog, a log) this way without copying them.
	Overlays []string
}

// Server is a running Redfish test server. Close it when done.
type Server struct {
	// URL is the base URL, https://127.0.0.1:PORT.
	URL string

	ts   *httptest.Server
	opts Options

	mu                    sync.Mutex
	res                   map[string]map[string]any // path without trailing slash -> resource
	raw                   map[string][]byte         // non-JSON documents ($metadata)
	actions               map[string]actionRef      // action target -> resource, action
	tokens                map[string]string         // token -> session path
	faults                []*Fault
	stale                 map[string]string // resource -> PowerState reported until its next reset
	loginLoc              string            // Location of login answers instead of the session's path
	streams               map[*stream]struct{}
	sseURI                string
	counts                map[string]int // "METHOD path" -> requests
	nextID                int
	eventSeq              int
	logins, refusedLogins int
	history               []published  // the newest published events, oldest first
	connects              []SSEConnect // every SSE request, in order
}

type actionRef struct{ resource, name string }

// New loads the mockup folder dir and starts a TLS server on 127.0.0.1.
func New(dir string, opts Options) (*Server, error) {
	s := &Server{
		opts:    opts,
		res:     map[string]map[string]any{},
		raw:     map[string][]byte{},
		tokens:  map[string]string{},
		streams: map[*stream]struct{}{},
		counts:  map[string]int{},
		stale:   map[string]string{},
		nextID:  1000,
	}
	if err := s.load(dir, s.res); err != nil {
		return nil, err
	}
	if _, ok := s.res[Root]; !ok {
		return nil, fmt.Errorf("redfishsim: %s has no index.json at its top: not a mockup folder", dir)
	}
	for _, o := range opts.Overlays {
		over := map[string]map[string]any{}
		if err := s.load(o, over); err != nil {
			return nil, err
		}
		if len(over) == 0 {
			return nil, fmt.Errorf("redfishsim: overlay %s holds no index.json", o)
		}
		for p, r := range over {
			if cur, ok := s.res[p]; ok {
				merge(cur, r)
			} else {
				s.res[p] = r
			}
		}
	}
	s.setupEventService()
	s.indexActions()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // dropped connections are on purpose
	s.ts.StartTLS()
	s.URL = s.ts.URL
	return s, nil
}

// Close stops the server and ends every open event stream.
func (s *Server) Close() {
	s.DropStreams()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CertPEM returns the server's certificate in PEM, for a CA file or a pin.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// CertDER returns the server's certificate in DER.
func (s *Server) CertDER() []byte { return bytes.Clone(s.ts.Certificate().Raw) }

// load reads the index.json files under dir into res (index.xml into
// s.raw).
func (s *Server) load(dir string, res map[string]map[string]any) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, filepath.Dir(p))
		if err != nil {
			return err
		}
		key := Root
		if rel != "." {
			key = Root + "/" + filepath.ToSlash(rel)
		}
		switch d.Name() {
		case "index.json":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				return fmt.Errorf("redfishsim: %s: %w", p, err)
			}
			res[key] = m
		case "index.xml":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s.raw[key] = b
		}
		return nil
	})
}

// setupEventService gives the EventService an SSE URI unless NoSSE.
func (s *Server) setupEventService() {
	es, ok := s.res[Root+"/EventService"]
	if !ok || s.opts.NoSSE {
		return
	}
	uri, _ := es["ServerSentEventUri"].(string)
	if uri == "" {
		uri = Root + "/EventService/SSE"
		es["ServerSentEventUri"] = uri
	}
	s.sseURI = uri
}

// indexActions maps each advertised action target to its resource.
func (s *Server) indexActions() {
	s.actions = map[string]actionRef{}
	for p, r := range s.res {
		acts, _ := r["Actions"].(map[string]any)
		for name, a := range acts {
			am, _ := a.(map[string]any)
			if t, _ := am["target"].(string); t != "" {
				s.actions[clean(t)] = actionRef{resource: p, name: name}
			}
		}
	}
}

// clean drops a trailing slash, a query and a fragment.
func clean(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p = path.Clean("/" + p)
	return p
}

// Count returns how many requests of method for path the server saw.
func (s *Server) Count(method, p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[method+" "+clean(p)]
}

// Get returns a deep copy of the resource at p.
func (s *Server) Get(p string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.res[clean(p)]
	if !ok {
		return nil, false
	}
	return deepCopy(r).(map[string]any), true
}

// Set merges patch into the resource at p, as a PATCH would.
func (s *Server) Set(p string, patch map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.res[clean(p)]
	if !ok {
		return fmt.Errorf("redfishsim: no resource %s", p)
	}
	merge(r, deepCopy(patch).(map[string]any))
	return nil
}

// Put replaces (or adds) the resource at p. Use it for edge-case fixtures.
func (s *Server) Put(p string, r map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res[clean(p)] = deepCopy(r).(map[string]any)
	s.indexActions()
}

// ReportStalePower makes GETs of the resource at p answer PowerState
// state while the resource keeps its real one, until the next reset of
// it: a BMC whose reported state is stale or wrong. Get returns the real
// state.
func (s *Server) ReportStalePower(p, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.res[clean(p)]; !ok {
		return fmt.Errorf("redfishsim: no resource %s", p)
	}
	s.stale[clean(p)] = state
	return nil
}

// SetLoginLocation makes every later login answer carry loc as its
// Location instead of the new session's path (hostile-service tests);
// "" ends it.
func (s *Server) SetLoginLocation(loc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loginLoc = loc
}

// Delete removes the resource at p.
func (s *Server) Delete(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.res, clean(p))
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, vm)
				continue
			}
		}
		if v == nil {
			delete(dst, k)
			continue
		}
		dst[k] = v
	}
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = deepCopy(x)
		}
		return a
	}
	return v
}

// newToken returns a random token; crypto/rand never fails since Go 1.24.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeError answers with a Redfish error body.
func writeError(w http.ResponseWriter, code int, id, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code":    "Base.1.5." + id,
		"message": msg,
		"@Message.ExtendedInfo": []any{map[string]any{
			"MessageId": "Base.1.5." + id, "Message": msg,
		}},
	}})
}

func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
