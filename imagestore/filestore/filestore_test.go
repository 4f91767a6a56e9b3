package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/imagestoretest"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store { return open(t, t.TempDir()) },
	})
}

// Each call of the store goes to another Store value on the same
// directory, so the suite's CAS checks run across Store values.
type rotating struct {
	mu     sync.Mutex
	n      int
	stores []*Store
}

func (r *rotating) next() *Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return r.stores[r.n%len(r.stores)]
}

func (r *rotating) Get(ctx context.Context, name string) (imagestore.Image, error) {
	return r.next().Get(ctx, name)
}
func (r *rotating) List(ctx context.Context) ([]imagestore.Image, error) { return r.next().List(ctx) }
func (r *rotating) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	return r.next().Put(ctx, img)
}

func TestConformanceSeveralStoresOneDir(t *testing.T) {
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store {
			dir := t.TempDir()
			return &rotating{stores: []*Store{open(t, dir), open(t, dir), open(t, dir)}}
		},
	})
}

// TestClaimAcrossProcesses runs Claim in four processes on one directory:
// exactly one wins, so the flock serialises processes too.
func TestClaimAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("FILESTORE_CLAIM_DIR"); dir != "" {
		helperClaim(dir, os.Getenv("FILESTORE_CLAIM_OWNER"))
		return
	}
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.Put(context.Background(), imagestoretest.Sample("vm1")); err != nil {
		t.Fatal(err)
	}
	const n = 4
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestClaimAcrossProcesses$")
			cmd.Env = append(os.Environ(), "FILESTORE_CLAIM_DIR="+dir, fmt.Sprintf("FILESTORE_CLAIM_OWNER=proc-%d", i))
			out, _ := cmd.CombinedOutput()
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	won := 0
	for i, out := range outs {
		switch {
		case strings.Contains(out, "CLAIM-WON"):
			won++
		case strings.Contains(out, "CLAIM-STALE"):
		default:
			t.Errorf("process %d: unexpected output:\n%s", i, out)
		}
	}
	if won != 1 {
		t.Fatalf("%d processes claimed generation 1 at once: %d won, want 1", n, won)
	}
	img, err := s.Get(context.Background(), "vm1")
	if err != nil || img.Generation != 2 || !strings.HasPrefix(img.Owner, "proc-") {
		t.Fatalf("after the claims: %+v, %v", img, err)
	}
}

func helperClaim(dir, owner string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Println("CLAIM-ERROR", err)
		return
	}
	defer s.Close()
	base := imagestoretest.Sample("vm1")
	base.Generation = 1
	_, err = imagestore.Claim(context.Background(), s, base, owner)
	switch {
	case err == nil:
		fmt.Println("CLAIM-WON")
	case errors.Is(err, imagestore.ErrStaleGeneration):
		fmt.Println("CLAIM-STALE")
	default:
		fmt.Println("CLAIM-ERROR", err)
	}
}

func put(t *testing.T, s *Store, img imagestore.Image) imagestore.Image {
	t.Helper()
	out, err := s.Put(context.Background(), img)
	if err != nil {
		t.Fatalf("Put(%q): %v", img.Name, err)
	}
	return out
}

func TestCrashLeavesPreviousVersion(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	v1 := put(t, s, imagestoretest.Sample("vm1"))

	// A crash after the temp file was half written, before the rename.
	v2 := v1.Clone()
	v2.Owner = "blade-b"
	v2.Generation++
	data, err := encode(v2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tempPrefix+"123456"), data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	// And one whose write completed but was never renamed.
	if err := os.WriteFile(filepath.Join(dir, tempPrefix+"999"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(context.Background(), "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(v1, got); d != "" {
		t.Fatalf("Get after a crash mid-write (-want +got):\n%s", d)
	}
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatalf("List with stray temp files: %v", err)
	}
	if d := cmp.Diff([]imagestore.Image{v1}, all); d != "" {
		t.Fatalf("List with stray temp files (-want +got):\n%s", d)
	}
	// The store keeps working, at the old generation.
	if _, err := s.Put(context.Background(), v1); err != nil {
		t.Fatalf("Put after a crash: %v", err)
	}
}

func TestFailedWriteKeepsPreviousVersion(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	v1 := put(t, s, imagestoretest.Sample("vm1"))
	old := writeData
	t.Cleanup(func() { writeData = old })
	writeData = func(f *os.File, data []byte) error {
		f.Write(data[:len(data)/3])
		return errors.New("disk full")
	}
	next := v1.Clone()
	next.Owner = "blade-b"
	if _, err := s.Put(context.Background(), next); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Put with a failing write: %v", err)
	}
	writeData = old
	got, err := s.Get(context.Background(), "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(v1, got); d != "" {
		t.Fatalf("Get after a failed write (-want +got):\n%s", d)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("failed Put left temp file %s behind", e.Name())
		}
	}
}

func TestNamesStayInDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	s := open(t, dir)
	names := []string{"../x", "..", ".", "a/b", "/etc/passwd", ".lock", ".tmp-1", "x.json", "%41", "web 1", "naïve"}
	for _, n := range names {
		img := imagestoretest.Sample(n)
		want := put(t, s, img)
		got, err := s.Get(context.Background(), n)
		if err != nil {
			t.Fatalf("Get(%q): %v", n, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", n, d)
		}
	}
	outside, _ := os.ReadDir(parent)
	if len(outside) != 1 || outside[0].Name() != "store" {
		t.Fatalf("files written outside the store directory: %v", outside)
	}
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(names) {
		t.Fatalf("List has %d images, want %d", len(all), len(names))
	}
	if _, err := s.Put(context.Background(), imagestoretest.Sample(strings.Repeat("/", 100))); !errors.Is(err, imagestore.ErrInvalidImage) {
		t.Fatalf("Put of a name too long to encode: %v, want ErrInvalidImage", err)
	}
}

func TestCorruptFileNamed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	put(t, s, imagestoretest.Sample("vm1"))
	path := filepath.Join(dir, "vm1.json")
	other, _ := encode(imagestore.Image{Name: "vm2", Owner: "a", Generation: 1})
	for what, data := range map[string][]byte{
		"broken JSON":   []byte(`{"version":1,"name":"vm1",`),
		"other image":   other,
		"unknown field": []byte(`{"version":1,"name":"vm1","owner":"a","generation":1,"evil":true}`),
		"trailing data": []byte(`{"version":1,"name":"vm1","owner":"a","generation":1} {}`),
		"version 2":     []byte(`{"version":2,"name":"vm1","owner":"a","generation":1}`),
		"generation 0":  []byte(`{"version":1,"name":"vm1","owner":"a","generation":0}`),
		"no owner":      []byte(`{"version":1,"name":"vm1","generation":3}`),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(context.Background(), "vm1")
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("Get of a file with %s: %v, want ErrCorrupt naming %s", what, err, path)
		}
		if _, err := s.List(context.Background()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("List with a file with %s: %v, want ErrCorrupt", what, err)
		}
		img := imagestoretest.Sample("vm1")
		img.Generation = 1
		if _, err := s.Put(context.Background(), img); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Put over a file with %s: %v, want ErrCorrupt (no blind overwrite)", what, err)
		}
	}
}

// A file written before checkpointGeneration and previousOwner existed
// still reads, with both zero; the next Put writes them.
func TestReadsFilesWithoutNewFields(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	old := `{
  "version": 1,
  "name": "vm1",
  "checkpoint": "/ckpt/vm1.save",
  "owner": "blade-a",
  "generation": 4,
  "memoryMiB": 512,
  "cpus": 1
}
`
	if err := os.WriteFile(filepath.Join(dir, "vm1.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(context.Background(), "vm1")
	if err != nil {
		t.Fatalf("Get of a file without the new fields: %v", err)
	}
	want := imagestore.Image{Name: "vm1", Checkpoint: "/ckpt/vm1.save", Owner: "blade-a", Generation: 4, MemoryMiB: 512, CPUs: 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("old file (-want +got):\n%s", d)
	}
	claimed, err := imagestore.Claim(context.Background(), s, got, "blade-b")
	if err != nil {
		t.Fatal(err)
	}
	claimed.CheckpointGeneration = claimed.Generation + 1
	put(t, s, claimed)
	data, err := os.ReadFile(filepath.Join(dir, "vm1.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"previousOwner": "blade-a"`, `"checkpointGeneration": 6`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("file after Claim and Put lacks %s:\n%s", field, data)
		}
	}
}

func TestStrayFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	v := put(t, s, imagestoretest.Sample("vm1"))
	for _, n := range []string{"README", "vm2.json~", "%zz.json", "%41.json", ".hidden.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]imagestore.Image{v}, all); d != "" {
		t.Fatalf("List with stray files (-want +got):\n%s", d)
	}
}

func Example() {
	dir, _ := os.MkdirTemp("", "filestore-example")
	defer os.RemoveAll(dir)
	s, _ := Open(dir)
	defer s.Close()
	ctx := context.Background()

	img, _ := s.Put(ctx, imagestore.Image{Name: "db", Owner: "blade-a", Definition: []byte("<domain/>")})
	fmt.Println(img.Name, "generation", img.Generation, "owner", img.Owner)

	won, _ := imagestore.Claim(ctx, s, img, "blade-b")
	_, err := imagestore.Claim(ctx, s, img, "blade-c") // same, now stale, generation
	fmt.Println("owner", won.Owner, "generation", won.Generation, "stale:", errors.Is(err, imagestore.ErrStaleGeneration))
	// Output:
	// db generation 1 owner blade-a
	// owner blade-b generation 2 stale: true
}
