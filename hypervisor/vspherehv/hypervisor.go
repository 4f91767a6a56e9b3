package vspherehv

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
)

// Hypervisor drives one ESXi host through vCenter. Create it with New,
// release it with Close.
type Hypervisor struct {
	cfg    Config
	log    *slog.Logger
	vc     *vim25.Client
	rl     *relogin
	host   *object.HostSystem
	pool   *object.ResourcePool
	folder *object.Folder
	dc     *object.Datacenter
	names  keyedMutex

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ hypervisor.Hypervisor       = (*Hypervisor)(nil)
	_ hypervisor.Checkpointer     = (*Hypervisor)(nil)
	_ hypervisor.CapacityReporter = (*Hypervisor)(nil)
	_ hypervisor.Capturer         = (*Hypervisor)(nil)
)

// New connects to cfg.URL, logs in and finds cfg.Host. The returned
// Hypervisor keeps its session alive until Close.
func New(ctx context.Context, cfg Config) (*Hypervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL) // Validate parsed it
	sc := soap.NewClient(u, cfg.Insecure)
	if cfg.RootCAs != nil {
		sc.DefaultTransport().TLSClientConfig.RootCAs = cfg.RootCAs
	}
	if cfg.Thumbprint != "" {
		sc.SetThumbprint(u.Host, normThumbprint(cfg.Thumbprint))
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, wrap(err, hypervisor.ErrUnreachable, "connect to %s", cfg.URL)
	}
	user := url.UserPassword(cfg.Username, cfg.Password)
	sm := session.NewManager(vc)
	rl := &relogin{next: sc, login: func(ctx context.Context) error { return sm.Login(ctx, user) }}
	vc.RoundTripper = rl
	if err := sm.Login(ctx, user); err != nil {
		return nil, wrap(err, hypervisor.ErrUnreachable, "log in to %s as %q", cfg.URL, cfg.Username)
	}
	h := &Hypervisor{cfg: cfg, vc: vc, rl: rl, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if err := h.locate(ctx); err != nil {
		_ = sm.Logout(context.WithoutCancel(ctx))
		return nil, err
	}
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go keepAlive(vc, rl, cfg.KeepAlive, h.stop, h.done)
	return h, nil
}

// locate finds the datacenter, host, its resource pool and the VM folder.
func (h *Hypervisor) locate(ctx context.Context) error {
	f := find.NewFinder(h.vc)
	var err error
	if h.cfg.Datacenter == "" {
		h.dc, err = f.DefaultDatacenter(ctx)
	} else {
		h.dc, err = f.Datacenter(ctx, h.cfg.Datacenter)
	}
	if err != nil {
		return wrap(err, hypervisor.ErrNotFound, "datacenter %q", h.cfg.Datacenter)
	}
	f.SetDatacenter(h.dc)
	if h.host, err = f.HostSystem(ctx, h.cfg.Host); err != nil {
		return wrap(err, hypervisor.ErrNotFound, "host %q in datacenter %q", h.cfg.Host, h.dc.Name())
	}
	if h.pool, err = h.host.ResourcePool(ctx); err != nil {
		return wrap(err, hypervisor.ErrNotFound, "resource pool of host %q", h.cfg.Host)
	}
	folders, err := h.dc.Folders(ctx)
	if err != nil {
		return wrap(err, hypervisor.ErrNotFound, "VM folder of datacenter %q", h.dc.Name())
	}
	h.folder = folders.VmFolder
	return nil
}

// Close stops the keep-alive and logs out. It is safe to call twice.
func (h *Hypervisor) Close() error {
	var err error
	h.closeOnce.Do(func() {
		close(h.stop)
		<-h.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if lerr := session.NewManager(h.vc).Logout(ctx); lerr != nil {
			err = wrap(lerr, hypervisor.ErrUnreachable, "log out of %s", h.cfg.URL)
		}
	})
	return err
}

// HostName is the ESXi host this hypervisor drives.
func (h *Hypervisor) HostName() string { return h.cfg.Host }

// String names the host and endpoint, never the credentials.
func (h *Hypervisor) String() string {
	return fmt.Sprintf("vspherehv(%s at %s)", h.cfg.Host, h.cfg.URL)
}

// keyedMutex serializes work per VM name.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu sync.Mutex
	n  int
}

func (k *keyedMutex) lock(name string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[name]
	if e == nil {
		e = &keyedEntry{}
		k.m[name] = e
	}
	e.n++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, name)
		}
		k.mu.Unlock()
	}
}

// ref is a shorthand for a managed object reference.
type ref = types.ManagedObjectReference
