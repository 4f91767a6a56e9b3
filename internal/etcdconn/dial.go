package etcdconn

import (
	"errors"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// ErrClientSet is Dial's answer for a Config whose Client is set: there
// is nothing to dial, the caller uses that client.
var ErrClientSet = errors.New("etcdconn: Config.Client is set: nothing to dial")

// Dial returns a new client as c says; the caller closes it. It does not
// wait for a connection, except for the login when Username is set (at
// most DialTimeout). It checks c first (naming fields "etcdconn.Config"),
// although a driver has already done so under its own name.
func (c Config) Dial() (*clientv3.Client, error) {
	if c.Client != nil {
		return nil, ErrClientSet
	}
	if err := c.Validate("etcdconn.Config"); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(c.clientConfig())
	if err != nil {
		// Not the clientv3.Config: it holds the password.
		return nil, fmt.Errorf("connect to %q as %q: %w", c.Endpoints, c.Username, err)
	}
	return cli, nil
}

// clientConfig is the client's configuration: c's fields, no logging,
// and connectParams.
func (c Config) clientConfig() clientv3.Config {
	return clientv3.Config{
		Endpoints:            slices.Clone(c.Endpoints),
		TLS:                  c.TLS,
		Username:             c.Username,
		Password:             c.Password,
		DialTimeout:          c.DialTimeout,
		DialKeepAliveTime:    c.DialKeepAliveTime,
		DialKeepAliveTimeout: c.DialKeepAliveTimeout,
		Logger:               zap.NewNop(), // errors reach the caller; nothing to log
		DialOptions:          []grpc.DialOption{grpc.WithConnectParams(c.connectParams())},
	}
}

// connectParams space reconnect attempts from 100 ms apart growing to
// ReconnectMaxDelay (gRPC's own ceiling is 120 s), each attempt bounded
// by DialTimeout.
func (c Config) connectParams() grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: c.ReconnectMaxDelay},
		MinConnectTimeout: c.DialTimeout,
	}
}
