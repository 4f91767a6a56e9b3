package etcdrig

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func LoopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// StartEmbedded starts a one-member etcd on free loopback ports with its
// data in dir, and returns it with its client URL: https with clientTLS
// (then clients must present a certificate), else http. A port taken
// between choosing and binding costs another try.
func StartEmbedded(dir string, clientTLS *transport.TLSInfo) (*embed.Etcd, string, error) {
	var lastErr error
	for range 3 {
		ports, err := FreePorts(2)
		if err != nil {
			return nil, "", err
		}
		cfg := embed.NewConfig()
		cfg.Name = "test"
		cfg.Dir = dir
		client, peer := LoopbackURL(ports[0]), LoopbackURL(ports[1])
		if clientTLS != nil {
			client.Scheme = "https"
			cfg.ClientTLSInfo = *clientTLS
		}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			os.RemoveAll(dir)
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
			return e, client.String(), nil
		case <-time.After(20 * time.Second):
			e.Server.Stop()
			e.Close()
			return nil, "", fmt.Errorf("not ready within 20s")
		}
	}
	return nil, "", lastErr
}
