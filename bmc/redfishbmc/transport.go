package redfishbmc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Transport errors, wrapped in the bmc sentinels by classify.
var (
	errBodyTooLarge   = errors.New("response body exceeds Config.MaxBodyBytes")
	errPinMismatch    = errors.New("certificate does not match Config.PinnedCertSHA256")
	errCrossRedirect  = errors.New("redirect to another host or scheme refused (credentials would leak)")
	errTooManyRedirec = errors.New("more than 5 redirects")
	errOffOrigin      = errors.New("request to another scheme, host or port than Config.Endpoint refused (credentials would leak)")
)

// newHTTPClient builds the client every request of one adapter goes
// through: TLS per Config, bounded bodies, requests and redirects to the
// endpoint's origin only, each authorized by authorize.
func newHTTPClient(c Config, o origin, authorize func(*http.Request)) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case c.PinnedCertSHA256 != "":
		want, _ := hex.DecodeString(strings.ReplaceAll(c.PinnedCertSHA256, ":", ""))
		// The pin replaces chain verification: BMCs mostly use
		// self-signed certificates no CA vouches for.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errPinMismatch
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return errPinMismatch
			}
			return nil
		}
	case c.CAFile != "":
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: Config.CAFile: %v", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: Config.CAFile %q holds no PEM certificate", ErrInvalidConfig, c.CAFile)
		}
		tc.RootCAs = pool
	case c.InsecureSkipVerify:
		tc.InsecureSkipVerify = true
	}
	tr := &http.Transport{
		Proxy:               nil, // a BMC is reached directly, never through a proxy
		DialContext:         (&net.Dialer{Timeout: c.RequestTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: c.RequestTimeout,
		// Past each request's own deadline (RequestTimeout), so that a
		// slow answer reads as a deadline; it bounds the SSE request.
		ResponseHeaderTimeout: c.RequestTimeout + time.Second,
		MaxIdleConnsPerHost:   c.MaxConcurrentRequests,
		IdleConnTimeout:       time.Minute,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: &guardTransport{rt: tr, max: c.MaxBodyBytes, origin: o, authorize: authorize},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errTooManyRedirec
			}
			first := via[0].URL
			if req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
				return errCrossRedirect
			}
			return nil
		},
	}, nil
}

// streamKey marks the context of the one request whose answer may stream
// (the SSE request of Events).
type streamKey struct{}

func withStreaming(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey{}, true)
}

// guardTransport is the last word on every request: it refuses one to
// another origin, adds the credentials, and caps every response body but
// that of a streaming request answered 200 text/event-stream (whose lines
// and events the SSE reader bounds itself). Error bodies and any other
// answer claiming text/event-stream are capped too.
type guardTransport struct {
	rt        http.RoundTripper
	max       int64
	origin    origin
	authorize func(*http.Request)
}

func (t *guardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.origin.same(r.URL) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errOffOrigin
	}
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	r.Header.Del("X-Auth-Token")
	t.authorize(r)
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	streaming, _ := r.Context().Value(streamKey{}).(bool)
	if streaming && resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil
	}
	resp.Body = &boundedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

func (t *guardTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// boundedBody fails, rather than truncates, past its limit.
type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }

// isTLSTrustError reports a certificate that was not trusted.
func isTLSTrustError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) ||
		errors.Is(err, errPinMismatch)
}
