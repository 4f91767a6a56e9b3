package demosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// FuzzDecodeResponse: the client's decoder never panics, and an answer is
// exactly one of a remote error (with a message), a protocol error, or a
// result.
func FuzzDecodeResponse(f *testing.F) {
	targets := []func() any{
		func() any { return &emptyRequest{} },
		func() any { return &[]sensor.Reading{} },
		func() any { return &bmc.Health{} },
		func() any { var p bmc.PowerState; return &p },
		func() any { return &watchdog.State{} },
		func() any { var s hypervisor.VMState; return &s },
		func() any { return &[]hypervisor.VM{} },
		func() any { return &checkpointResult{} },
		func() any { return &hypervisor.Capacity{} },
		func() any { return &imagestore.Image{} },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, target := range targets {
			v := target()
			remote, err := decodeResponse(data, v)
			switch {
			case remote != nil && err != nil:
				t.Fatalf("%T: both a remote error (%v) and a decoding error (%v)", v, remote, err)
			case remote != nil && remote.Error() == "":
				t.Fatalf("%T: remote error without a message", v)
			case err != nil && !errors.Is(err, ErrProtocol):
				t.Fatalf("%T: decoding error %v does not wrap ErrProtocol", v, err)
			case err == nil && remote == nil:
				// A result was decoded: it must encode again.
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("%T decoded from %q does not encode: %v", v, data, err)
				}
			}
		}
	})
}

// FuzzServe: whatever the operation and body, the server answers a JSON
// envelope the client decodes, with a status that matches its error, and
// keeps serving.
func FuzzServe(f *testing.F) {
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		b, err := simbmc.New(simbmc.DefaultConfig("blade-a"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := memhv.New(memhv.DefaultConfig("blade-a"))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := NewServer(map[string]*simbmc.BMC{"blade-a": b}, map[string]*memhv.Hypervisor{"blade-a": h})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "http://demosim/", bytes.NewReader(body))
		req.URL.Path = "/v1/" + path
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		remote, err := decodeResponse(rec.Body.Bytes(), nil)
		if err != nil {
			t.Fatalf("POST /v1/%s: answer %q does not decode: %v", path, rec.Body.Bytes(), err)
		}
		switch rec.Code {
		case http.StatusOK:
			if remote != nil && errors.Is(remote, ErrProtocol) {
				t.Fatalf("POST /v1/%s: status 200 with a protocol error: %v", path, remote)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			if remote == nil || !(errors.Is(remote, ErrProtocol) || errors.Is(remote, ErrUnknownHost)) {
				t.Fatalf("POST /v1/%s: status %d with error %v", path, rec.Code, remote)
			}
		default:
			t.Fatalf("POST /v1/%s: status %d, answer %q", path, rec.Code, rec.Body.Bytes())
		}
		rec = httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://demosim/v1/hv/blade-a/list", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("list after POST /v1/%s: status %d %q", path, rec.Code, rec.Body.Bytes())
		}
	})
}
