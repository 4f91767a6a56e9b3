package etcdconn

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config says how to reach an etcd cluster: an existing Client (the
// caller's, with none of the other fields set), or Endpoints to dial with
// TLS (nil: plain TCP) and, when etcd's auth is on, Username and
// Password. The fields mean what the drivers' Config fields of the same
// names document; DialKeepAliveTime and DialKeepAliveTimeout may be zero
// (gRPC's defaults). Config has no defaults of its own: a driver fills it
// from its Config, whose DefaultConfig comments each value.
type Config struct {
	Client               *clientv3.Client
	Endpoints            []string
	TLS                  *tls.Config // kept, not copied
	Username             string
	Password             string
	DialTimeout          time.Duration
	ReconnectMaxDelay    time.Duration
	DialKeepAliveTime    time.Duration
	DialKeepAliveTimeout time.Duration
}

// Validate names the first field that is wrong as name.Field, name being
// the caller's type ("etcdstore.Config"), and its value (never the
// password's, nor an endpoint holding credentials).
func (c Config) Validate(name string) error {
	field := func(f string) string { return name + "." + f }
	if c.Client != nil {
		switch {
		case len(c.Endpoints) > 0:
			return fmt.Errorf("%s %q set together with Client", field("Endpoints"), c.Endpoints)
		case c.TLS != nil:
			return fmt.Errorf("%s set together with Client", field("TLS"))
		case c.Username != "" || c.Password != "":
			return fmt.Errorf("%s or Password set together with Client", field("Username"))
		}
		return nil
	}
	switch {
	case len(c.Endpoints) == 0:
		return fmt.Errorf("%s is empty and Client is nil", field("Endpoints"))
	case c.Password != "" && c.Username == "":
		return fmt.Errorf("%s set without Username", field("Password"))
	case c.DialTimeout <= 0:
		return fmt.Errorf("%s %v is not positive", field("DialTimeout"), c.DialTimeout)
	case c.ReconnectMaxDelay <= 0:
		return fmt.Errorf("%s %v is not positive", field("ReconnectMaxDelay"), c.ReconnectMaxDelay)
	case c.DialKeepAliveTime < 0:
		return fmt.Errorf("%s %v is negative", field("DialKeepAliveTime"), c.DialKeepAliveTime)
	case c.DialKeepAliveTimeout < 0:
		return fmt.Errorf("%s %v is negative", field("DialKeepAliveTimeout"), c.DialKeepAliveTimeout)
	}
	for i, ep := range c.Endpoints {
		if ep == "" {
			return fmt.Errorf("%s[%d] is empty", field("Endpoints"), i)
		}
		if u, err := url.Parse(ep); err == nil && u.User != nil {
			// Not printed: it holds a password.
			return fmt.Errorf("%s[%d] carries credentials in its URL: use Username and Password", field("Endpoints"), i)
		}
	}
	return nil
}
