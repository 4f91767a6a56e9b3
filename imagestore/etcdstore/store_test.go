package etcdstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/imagestore/imagestoretest"
)

// Racks under different prefixes of one cluster never see each other's
// images, even where one prefix's keys begin like the other's.
func TestPrefixesIsolateRacks(t *testing.T) {
	base := newPrefix()
	r1 := newStore(t, testConfig(embedded.endpoint, base+"rack-1/"))
	r10 := newStore(t, testConfig(embedded.endpoint, base+"rack-10/"))
	for _, s := range []*etcdstore.Store{r1, r10} {
		if _, err := s.Put(callCtx(t), imagestoretest.Sample("vm1")); err != nil {
			t.Fatal(err)
		}
	}
	img, err := r1.Get(callCtx(t), "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imagestore.Claim(callCtx(t), r1, img, "blade-b"); err != nil {
		t.Fatal(err)
	}
	other, err := r10.Get(callCtx(t), "vm1")
	if err != nil || other.Owner != "blade-a" || other.Generation != 1 {
		t.Fatalf("rack-10's vm1 after rack-1's claim: %+v, %v; want untouched", other, err)
	}
	for _, s := range []*etcdstore.Store{r1, r10} {
		all, err := s.List(callCtx(t))
		if err != nil || len(all) != 1 {
			t.Fatalf("List of %s: %d images, %v; want its one", s.Prefix(), len(all), err)
		}
	}
	if got := r1.Key("vm1"); got != base+"rack-1/images/vm1" {
		t.Errorf("Key(vm1) = %q", got)
	}
}

// A value that is not an image of the key's name fails Get, List and Put
// with ErrCorrupt naming the key; Put leaves it as it is.
func TestCorruptValueNamesKey(t *testing.T) {
	prefix := newPrefix()
	s := newStore(t, testConfig(embedded.endpoint, prefix))
	c := newClient(t, embedded.endpoint)
	good, err := s.Put(callCtx(t), imagestoretest.Sample("vm1"))
	if err != nil {
		t.Fatal(err)
	}
	for what, v := range map[string]string{
		"not JSON":      "<domain/>",
		"other image":   `{"format":1,"name":"vm2","generation":1,"owner":"a"}`,
		"newer format":  `{"format":2,"name":"vm1","generation":1,"owner":"a"}`,
		"unknown field": `{"format":1,"name":"vm1","generation":1,"owner":"a","lease":5}`,
		"generation 0":  `{"format":1,"name":"vm1","generation":0,"owner":"a"}`,
		"no owner":      `{"format":1,"name":"vm1","generation":1}`,
	} {
		key := s.Key("vm1")
		if _, err := c.Put(callCtx(t), key, v); err != nil {
			t.Fatal(err)
		}
		_, gerr := s.Get(callCtx(t), "vm1")
		_, lerr := s.List(callCtx(t))
		_, perr := s.Put(callCtx(t), good)
		for op, err := range map[string]error{"Get": gerr, "List": lerr, "Put": perr} {
			if !errors.Is(err, etcdstore.ErrCorrupt) || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Errorf("%s: %s of a corrupt value: err = %v, want ErrCorrupt naming key %q", what, op, err, key)
			}
		}
		resp, err := c.Get(callCtx(t), key)
		if err != nil || string(resp.Kvs[0].Value) != v {
			t.Fatalf("%s: Put over a corrupt value changed it", what)
		}
	}
}

// A key rewritten from outside at the same generation (a restore, say)
// moves its mod revision: Put still succeeds, once, after one more
// compare. A rewrite at another generation makes it stale.
func TestPutAfterOutsideRewrite(t *testing.T) {
	prefix := newPrefix()
	s := newStore(t, testConfig(embedded.endpoint, prefix))
	other := newStore(t, testConfig(embedded.endpoint, prefix))
	c := newClient(t, embedded.endpoint)
	v1, err := s.Put(callCtx(t), imagestoretest.Sample("vm1"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(callCtx(t), s.Key("vm1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(callCtx(t), s.Key("vm1"), string(resp.Kvs[0].Value)); err != nil { // same bytes, new revision
		t.Fatal(err)
	}
	v2, err := imagestore.Claim(callCtx(t), s, v1, "blade-b")
	if err != nil || v2.Generation != 2 {
		t.Fatalf("claim after a same-generation rewrite: %+v, %v", v2, err)
	}
	// The other Store saw nothing yet: its claim at generation 1 is stale.
	if _, err := imagestore.Claim(callCtx(t), other, v1, "blade-c"); !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("claim at generation 1 by another Store after generation 2: %v, want stale", err)
	}
	// And s's remembered revision is stale once other writes.
	if _, err := imagestore.Claim(callCtx(t), other, v2, "blade-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := imagestore.Claim(callCtx(t), s, v2, "blade-d"); !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("claim at generation 2 by s after other's generation 3: %v, want stale", err)
	}
}

// Writes etcd or the Store refuse for certain are plain errors, never
// outcome unknown, and store nothing.
func TestRefusedWrites(t *testing.T) {
	cfg := testConfig(embedded.endpoint, newPrefix())
	s := newStore(t, cfg)
	big := imagestoretest.Sample("vm-big")
	big.Definition = make([]byte, 2<<20)
	if _, err := s.Put(callCtx(t), big); !errors.Is(err, imagestore.ErrInvalidImage) || !strings.Contains(err.Error(), "MaxValueBytes") {
		t.Fatalf("Put of a 2 MiB definition: %v, want ErrInvalidImage naming MaxValueBytes", err)
	}
	// Past the Store's limit, etcd's own (1.5 MiB by default) refuses.
	cfg.MaxValueBytes = 4 << 20
	loose := newStore(t, cfg)
	big.Definition = make([]byte, 1200<<10)
	_, err := loose.Put(callCtx(t), big)
	if err == nil || errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("Put over etcd's request limit: err = %v, want a plain refusal", err)
	}
	t.Logf("etcd refused: %v", err)
	bad := imagestoretest.Sample("vm-\xff")
	if _, err := s.Put(callCtx(t), bad); !errors.Is(err, imagestore.ErrInvalidImage) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("Put of a name that is not UTF-8: %v, want ErrInvalidImage", err)
	}
	bad = imagestoretest.Sample("vm1")
	bad.Disks = []string{"/ok", "/bad-\xfe"}
	if _, err := s.Put(callCtx(t), bad); !errors.Is(err, imagestore.ErrInvalidImage) || !strings.Contains(err.Error(), "Disks[1]") {
		t.Fatalf("Put of a disk that is not UTF-8: %v, want ErrInvalidImage naming Disks[1]", err)
	}
	all, err := s.List(callCtx(t))
	if err != nil || len(all) != 0 {
		t.Fatalf("refused writes stored %d images (%v)", len(all), err)
	}
}

// Calls after Close fail with ErrClosed; Close twice is fine.
func TestClose(t *testing.T) {
	s, err := etcdstore.New(testConfig(embedded.endpoint, newPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(callCtx(t), "vm1"); !errors.Is(err, etcdstore.ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := s.List(callCtx(t)); !errors.Is(err, etcdstore.ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	if _, err := s.Put(callCtx(t), imagestoretest.Sample("vm1")); !errors.Is(err, etcdstore.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
}
