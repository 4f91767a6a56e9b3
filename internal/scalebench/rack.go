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
// socket, its image store in etcd, and its rack-manager process.
type rackRig struct {
	index   int
	names   []string
	bmcs    map[string]*simbmc.BMC
	hvs     map[string]*memhv.Hypervisor
	storage *memhv.Storage // this rack's hypervisors only
	store   *etcdstore.Store
	socket  string
	cfgPath string
	url     string
	metrics string // http://host:port of the process's /metrics

	cmd    *exec.Cmd
	exited chan struct{}
}

// newRackRig builds rack r's servers, each running vms VMs whose images
// it writes to the rack's prefix in etcd.
func newRackRig(ctx context.Context, dir string, r int, c Config, etcdEndpoint string) (*rackRig, error) {
	rr := &rackRig{index: r, bmcs: map[string]*simbmc.BMC{}, hvs: map[string]*memhv.Hypervisor{},
		storage: memhv.NewStorage(), socket: filepath.Join(dir, fmt.Sprintf("r%d.sock", r+1))}
	sc := etcdstore.DefaultConfig()
	sc.Endpoints = []string{etcdEndpoint}
	sc.Prefix = fmt.Sprintf("/failover/rack-%d/", r+1)
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

// writeConfig writes the rack manager's config: the rack's servers in a
// ring, every BMC the simulator behind the rack's socket, the library's
// default poll intervals (nothing set under rack_manager but where to
// listen and the certificates), logs at warn level.
func (rr *rackRig) writeConfig(dir string, certs certFiles, listen, metrics string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by scalebench: rack %d\ntopology: ring\nservers:\n", rr.index+1)
	for _, s := range rr.names {
		fmt.Fprintf(&b, "  - name: %s\n    bmc: {kind: sim}\n    hypervisor: {kind: sim}\n    watchdog: {kind: none}\n", s)
		fmt.Fprintf(&b, "    tls: {cert: %q, key: %q}\n", certs.cert(s), certs.key(s))
	}
	fmt.Fprintf(&b, `rack_manager:
  listen: %q
  url: "https://%s"
  server_name: %s
  tls: {cert: %q, key: %q}
  operators: [%s]
# the monitors use etcd (in the benchmark process); the rack manager never opens this
image_store: {kind: file, dir: %q}
tls: {ca: %q}
log: {format: json, level: warn}
metrics_addr: %q
demo: {socket: %q}
`, listen, listen, rackManagerName, certs.cert(rackManagerName), certs.key(rackManagerName), operatorName,
		filepath.Join(dir, "unused-images"), certs.ca(), metrics, rr.socket)
	rr.metrics = "http://" + metrics
	rr.cfgPath = filepath.Join(dir, fmt.Sprintf("rack-%d.yaml", rr.index+1))
	rr.url = "https://" + listen
	return os.WriteFile(rr.cfgPath, []byte(b.String()), 0o600)
}

// start runs `failoverd rack-manager -config F`, its log in dir. The
// process dies with this one (Pdeathsig).
func (rr *rackRig) start(exe, dir string) error {
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("rack-manager-%d.log", rr.index+1)))
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "rack-manager", "-config", rr.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("rack manager %d: %w", rr.index+1, err)
	}
	rr.cmd, rr.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is reported by stop and alive
		logf.Close()
		close(rr.exited)
	}()
	return nil
}

func (rr *rackRig) pid() int { return rr.cmd.Process.Pid }

// alive reports whether the rack-manager process still runs.
func (rr *rackRig) alive() bool {
	select {
	case <-rr.exited:
		return false
	default:
		return true
	}
}

// stop ends the rack manager (SIGTERM, then SIGKILL after 5 s) and
// closes the store.
func (rr *rackRig) stop() {
	if rr.cmd != nil && rr.cmd.Process != nil {
		rr.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // gone is fine
		select {
		case <-rr.exited:
		case <-time.After(5 * time.Second):
			rr.cmd.Process.Kill() //nolint:errcheck // gone is fine
			<-rr.exited
		}
	}
	if rr.store != nil {
		rr.store.Close()
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
