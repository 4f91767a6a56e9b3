package scalebench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// counts are counters by name: for etcd, per gRPC method ("KV/Range",
// "Lease/LeaseKeepAlive"), the request messages it received so far (its
// own grpc_server_msg_received_total, which counts each unary request and
// each message on a stream, a keep-alive or a watch request, as one); for
// a rack manager, its BMC calls by call.
type counts map[string]float64

// total is the sum over every method.
func (c counts) total() float64 {
	var n float64
	for _, v := range c {
		n += v
	}
	return n
}

// since is c minus an earlier snapshot, per method (methods with no new
// requests left out).
func (c counts) since(before counts) counts {
	out := counts{}
	for m, v := range c {
		if d := v - before[m]; d > 0 {
			out[m] = d
		}
	}
	return out
}

// scrapeEtcd reads endpoint's /metrics (etcd serves it on its client URL).
func scrapeEtcd(ctx context.Context, endpoint string) (counts, error) {
	var out counts
	err := scrape(ctx, endpoint, func(r io.Reader) (err error) {
		out, err = parseEtcdMetrics(r)
		return err
	})
	return out, err
}

// scrape GETs base/metrics and parses the body.
func scrape(ctx context.Context, base string, parse func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return fmt.Errorf("scalebench: metrics of %s: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("scalebench: metrics of %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scalebench: metrics of %s: HTTP status %d", base, resp.StatusCode)
	}
	return parse(resp.Body)
}

// msgReceived is the counter parseEtcdMetrics sums.
const msgReceived = "grpc_server_msg_received_total"

// parseEtcdMetrics sums msgReceived per service/method from Prometheus
// text format. A text with no such counter is an error: etcd without
// gRPC metrics would read as idle.
func parseEtcdMetrics(r io.Reader) (counts, error) {
	return sumCounter(r, msgReceived, func(labels string) string {
		return strings.TrimPrefix(label(labels, "grpc_service"), "etcdserverpb.") + "/" + label(labels, "grpc_method")
	})
}

// bmcCalls is the rack manager's histogram of BMC calls (its _count is
// the number of calls), by server and call.
const bmcCalls = "failover_bmc_call_duration_seconds_count"

// parseBMCCalls sums bmcCalls per call over every server. None is no
// call: a follower replica never polls.
func parseBMCCalls(r io.Reader) (counts, error) {
	c, err := sumCounter(r, bmcCalls, func(labels string) string { return label(labels, "call") })
	if errors.Is(err, errNoSample) {
		return counts{}, nil
	}
	return c, err
}

// errNoSample: the metric is not in the text at all.
var errNoSample = errors.New("no sample")

// sumCounter sums the samples of metric with labels from Prometheus
// text format, keyed by key(labels). No such sample is an error.
func sumCounter(r io.Reader, metric string, key func(labels string) string) (counts, error) {
	out := counts{}
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") {
			continue
		}
		found = true
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			return nil, fmt.Errorf("scalebench: metrics: unterminated labels in %q", truncate(line))
		}
		labels, value := line[len(metric)+1:end], strings.TrimSpace(line[end+1:])
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("scalebench: metrics: value %q of %s: %v", value, metric, err)
		}
		out[key(labels)] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scalebench: metrics: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("scalebench: metrics: %s: %w", metric, errNoSample)
	}
	return out, nil
}

// label is the value of name in a Prometheus label list (a="x",b="y").
func label(labels, name string) string {
	i := strings.Index(","+labels, ","+name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}
