package scalebench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// etcdCounts is, per gRPC method ("KV/Range", "Lease/LeaseKeepAlive"),
// the request messages etcd received so far: its own counter
// grpc_server_msg_received_total, which counts each unary request and
// each message on a stream (a keep-alive, a watch request) as one.
type etcdCounts map[string]float64

// total is the sum over every method.
func (c etcdCounts) total() float64 {
	var n float64
	for _, v := range c {
		n += v
	}
	return n
}

// since is c minus an earlier snapshot, per method (methods with no new
// requests left out).
func (c etcdCounts) since(before etcdCounts) etcdCounts {
	out := etcdCounts{}
	for m, v := range c {
		if d := v - before[m]; d > 0 {
			out[m] = d
		}
	}
	return out
}

// scrapeEtcd reads endpoint's /metrics (etcd serves it on its client URL).
func scrapeEtcd(ctx context.Context, endpoint string) (etcdCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scalebench: etcd metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scalebench: etcd metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scalebench: etcd metrics: HTTP status %d", resp.StatusCode)
	}
	return parseEtcdMetrics(resp.Body)
}

// msgReceived is the counter parseEtcdMetrics sums.
const msgReceived = "grpc_server_msg_received_total"

// parseEtcdMetrics sums msgReceived per service/method from Prometheus
// text format. A text with no such counter is an error: etcd without
// gRPC metrics would read as idle.
func parseEtcdMetrics(r io.Reader) (etcdCounts, error) {
	out := etcdCounts{}
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, msgReceived+"{") {
			continue
		}
		found = true
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			return nil, fmt.Errorf("scalebench: etcd metrics: unterminated labels in %q", truncate(line))
		}
		labels, value := line[len(msgReceived)+1:end], strings.TrimSpace(line[end+1:])
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("scalebench: etcd metrics: value %q of %s: %v", value, msgReceived, err)
		}
		service := strings.TrimPrefix(label(labels, "grpc_service"), "etcdserverpb.")
		out[service+"/"+label(labels, "grpc_method")] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scalebench: etcd metrics: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("scalebench: etcd metrics: no %s counter", msgReceived)
	}
	return out, nil
}

// label is the value of name in a Prometheus label list (a="x",b="y").
func label(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}
