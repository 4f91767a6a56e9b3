package scalebench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/internal/etcdrig"
)

// VM and server sizes: a 64 GiB, 32-CPU blade (memhv's default) running
// small VMs, so that a watcher holds its own VMs and its peer's.
const (
	vmMiB  = 2048
	vmCPUs = 2
)

// rackRig is one rack: its simulated hardware, served over its own unix
// socket, its image store in etcd, and its rack-manager processes (one,
// or replicas electing a leader in etcd).
type rackRig struct {
	index   int
	names   []string
	bmcs    map[string]*simbmc.BMC
	hvs     map[string]*memhv.Hypervisor
	storage *memhv.Storage   // this rack's hypervisors only
	store   imagestore.Store // an etcdstore.Store; a memstore in unit tests
	prefix  string           // the rack's etcd prefix
	socket  string
	procs   []*rmProc
}

// rmProc is one rack-manager process.
type rmProc struct {
	rack, replica int
	cfgPath       string
	url           string
	metrics       string // http://host:port of the process's /metrics

	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *rmProc) name() string {
	return fmt.Sprintf("rack manager %d.%d", p.rack+1, p.replica+1)
}

// newRackRig builds rack r's servers, each running vms VMs whose images
// it writes to the rack's prefix in etcd.
func newRackRig(ctx context.Context, dir string, r int, c Config, etcdEndpoint string) (*rackRig, error) {
	rr := &rackRig{index: r, bmcs: map[string]*simbmc.BMC{}, hvs: map[string]*memhv.Hypervisor{},
		storage: memhv.NewStorage(), socket: filepath.Join(dir, fmt.Sprintf("r%d.sock", r+1))}
	sc := etcdstore.DefaultConfig()
	sc.Endpoints = []string{etcdEndpoint}
	sc.Prefix = fmt.Sprintf("/failover/rack-%d/", r+1)
	rr.prefix = sc.Prefix
	store, err := etcdstore.New(sc)
	if err != nil {
		return nil, err
	}
	rr.store = store
	var imgs []imagestore.Image
	for i := range c.ServersPerRack {
		name := serverName(r, i)
		rr.names = append(rr.names, name)
		hc := memhv.DefaultConfig(name)
		hc.Storage = rr.storage
		b, hv, err := demosim.NewHost(simbmc.DefaultConfig(name), hc)
		if err != nil {
			return nil, err
		}
		rr.bmcs[name], rr.hvs[name] = b, hv
		for v := range c.VMsPerServer {
			vm := fmt.Sprintf("%s-vm%d", name, v+1)
			imgs = append(imgs, imagestore.Image{
				Name: vm, Definition: []byte(`{"vm":"` + vm + `"}`), Disks: []string{"shared://" + vm + ".qcow2"},
				Owner: name, Priority: c.VMsPerServer - v, MemoryMiB: vmMiB, CPUs: vmCPUs,
			})
		}
	}
	if err := putAndStart(ctx, store, rr.hvs, imgs); err != nil {
		return nil, fmt.Errorf("rack %d: %w", r+1, err)
	}
	return rr, nil
}

// putAndStart writes every image and starts it on its owner, 16 at a
// time (etcd batches the fsyncs of concurrent writes).
func putAndStart(ctx context.Context, store imagestore.Store, hvs map[string]*memhv.Hypervisor, imgs []imagestore.Image) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		queue = make(chan imagestore.Image)
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for img := range queue {
				stored, err := store.Put(ctx, img)
				if err == nil {
					err = hvs[img.Owner].Start(ctx, stored)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("VM %s: %w", img.Name, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, img := range imgs {
		queue <- img
	}
	close(queue)
	wg.Wait()
	return errors.Join(errs...)
}

// serve serves the rack's simulators on its socket until ctx ends.
func (rr *rackRig) serve(ctx context.Context) (<-chan error, error) {
	ln, err := net.Listen("unix", rr.socket)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- demosim.Serve(ctx, ln, rr.bmcs, rr.hvs) }()
	return done, nil
}

// configure makes the rack's rack-manager processes (not started): one
// config each, naming the rack's servers in a ring, every BMC the
// simulator behind the rack's socket, the library's default poll
// intervals (nothing set under rack_manager but where to listen, the
// certificates and the replicas), logs at warn level. With more than one
// replica, each lists them all and elects through the etcd section.
func (rr *rackRig) configure(dir string, certs certFiles, replicas int, etcdEndpoint string) error {
	var urls []string
	for i := range replicas {
		listen, metrics, err := freeListen()
		if err != nil {
			return err
		}
		p := &rmProc{rack: rr.index, replica: i, url: "https://" + listen, metrics: "http://" + metrics,
			cfgPath: filepath.Join(dir, fmt.Sprintf("rack-%d.%d.yaml", rr.index+1, i+1))}
		rr.procs = append(rr.procs, p)
		urls = append(urls, p.url)
	}
	for _, p := range rr.procs {
		var b strings.Builder
		fmt.Fprintf(&b, "# written by scalebench: rack %d, replica %d\ntopology: ring\nservers:\n", rr.index+1, p.replica+1)
		for _, s := range rr.names {
			fmt.Fprintf(&b, "  - name: %s\n    bmc: {kind: sim}\n    hypervisor: {kind: sim}\n    watchdog: {kind: none}\n", s)
			fmt.Fprintf(&b, "    tls: {cert: %q, key: %q}\n", certs.cert(s), certs.key(s))
		}
		fmt.Fprintf(&b, "rack_manager:\n  listen: %q\n  url: %q\n  server_name: %s\n  tls: {cert: %q, key: %q}\n  operators: [%s]\n",
			strings.TrimPrefix(p.url, "https://"), p.url, rackManagerName, certs.cert(rackManagerName), certs.key(rackManagerName), operatorName)
		if replicas > 1 {
			fmt.Fprintf(&b, "  replicas: [%s]\netcd: {endpoints: [%q], prefix: %q, insecure_plaintext: true}\n",
				strings.Join(urls, ", "), etcdEndpoint, rr.prefix)
		}
		fmt.Fprintf(&b, `# the monitors use etcd (in the benchmark process); the rack manager never opens this
image_store: {kind: file, dir: %q}
tls: {ca: %q}
log: {format: json, level: warn}
metrics_addr: %q
demo: {socket: %q}
`, filepath.Join(dir, "unused-images"), certs.ca(), strings.TrimPrefix(p.metrics, "http://"), rr.socket)
		if err := os.WriteFile(p.cfgPath, []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// start runs `failoverd rack-manager -config F`, its log in dir. The
// process dies with this one (Pdeathsig).
func (p *rmProc) start(exe, dir string) error {
	logf, err := os.Create(p.logPath(dir))
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "rack-manager", "-config", p.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: %w", p.name(), err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is reported by stop and alive
		logf.Close()
		close(p.exited)
	}()
	return nil
}

func (p *rmProc) logPath(dir string) string {
	return filepath.Join(dir, fmt.Sprintf("rack-manager-%d.%d.log", p.rack+1, p.replica+1))
}

func (p *rmProc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process still runs.
func (p *rmProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (p *rmProc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // gone is fine
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck // gone is fine
		<-p.exited
	}
}

// urls are the rack's rack-manager URLs, as a monitor's client tries them.
func (rr *rackRig) urls() (first string, others []string) {
	var all []string
	for _, p := range rr.procs {
		all = append(all, p.url)
	}
	return all[0], all[1:]
}

// stop ends the rack's processes and closes its store.
func (rr *rackRig) stop() {
	for _, p := range rr.procs {
		p.stop()
	}
	if c, ok := rr.store.(interface{ Close() error }); ok {
		c.Close()
	}
}

// freeListen is two loopback addresses that were free a moment ago.
func freeListen() (string, string, error) {
	ports, err := etcdrig.FreePorts(2)
	if err != nil {
		return "", "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), nil
}
