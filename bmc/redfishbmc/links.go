package redfishbmc

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rackha/failover/bmc"
)

// origin is the scheme, host and port of the endpoint: every request of
// the adapter goes there, and nowhere else.
type origin struct {
	scheme, host, port string // host lower-case, IPv6 without brackets
}

func originOf(endpoint string) (origin, error) {
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || u.Host == "" {
		return origin{}, fmt.Errorf("%w: Config.Endpoint %q is not https://HOST[:PORT]", ErrInvalidConfig, endpoint)
	}
	return originOfURL(u), nil
}

func originOfURL(u *url.URL) origin {
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		switch o.scheme {
		case "https":
			o.port = "443"
		case "http":
			o.port = "80"
		}
	}
	return o
}

// String is the base URL, scheme://host:port.
func (o origin) String() string { return o.scheme + "://" + net.JoinHostPort(o.host, o.port) }

// same reports whether u is on this origin, with no credentials in it.
func (o origin) same(u *url.URL) bool {
	return u.User == nil && u.Host != "" && originOfURL(u) == o
}

// link turns a link the service supplied (an @odata.id, an action
// target, a Location, Links.Sessions) into a path on this service: an
// absolute path, or an absolute URL with the endpoint's scheme, host and
// port. Anything else (another host, port or scheme, credentials, a
// scheme-relative //host, a relative path, a query) is refused: the
// password and the token are only ever sent to the endpoint.
func (b *conn) link(ref string) (string, error) {
	return b.origin.link(ref)
}

func (o origin) link(ref string) (string, error) {
	if i := strings.IndexByte(ref, '#'); i >= 0 {
		ref = ref[:i]
	}
	refuse := func(why string) (string, error) {
		return "", fmt.Errorf("%w: link %q %s", bmc.ErrMalformed, trunc(ref), why)
	}
	u, err := url.Parse(ref)
	switch {
	case err != nil:
		return refuse("is not a URL")
	case u.User != nil:
		return refuse("holds credentials")
	case u.Scheme != "" || u.Host != "":
		if !o.same(u) {
			return refuse("points outside this service (" + o.String() + ")")
		}
	case u.Opaque != "" || !strings.HasPrefix(u.Path, "/"):
		return refuse("is not an absolute path")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return refuse("has a query")
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return refuse("is not an absolute path")
	}
	return p, nil
}

// linkQuery is link for a link that may carry a query (a collection's
// @odata.nextLink, "?$skiptoken=..."): the path is checked as link
// checks it, and the query is kept as sent.
func (o origin) linkQuery(ref string) (string, error) {
	path, query, hasQuery := strings.Cut(ref, "?")
	p, err := o.link(path)
	if err != nil || !hasQuery {
		return p, err
	}
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	if _, err := url.ParseQuery(query); err != nil || strings.IndexFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("%w: link %q has a malformed query", bmc.ErrMalformed, trunc(ref))
	}
	if query == "" {
		return p, nil
	}
	return p + "?" + query, nil
}
