package vspherehv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"

	"github.com/rackha/failover/hypervisor"
)

// definition is a parsed imagestore.Image.Definition (see the package doc).
type definition struct {
	vmx    string      // register form: "[ds] dir/name.vmx"
	create *createSpec // create form
}

// createSpec is the JSON create form of a definition.
type createSpec struct {
	// GuestID is vSphere's guest OS identifier, such as "otherGuest64".
	GuestID string `json:"guestId"`
	// Datastore holds the new VM's files.
	Datastore string `json:"datastore"`
}

const maxDefinition = 64 << 10

// parseDefinition reads a definition; errors wrap hypervisor.ErrBadImage
// and say what was wrong.
func parseDefinition(b []byte) (definition, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return definition{}, fmt.Errorf("empty definition: want a .vmx datastore path or a JSON create spec: %w", hypervisor.ErrBadImage)
	case len(b) > maxDefinition:
		return definition{}, fmt.Errorf("definition is %d bytes, more than %d: %w", len(b), maxDefinition, hypervisor.ErrBadImage)
	case b[0] == '{':
		var cs createSpec
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cs); err != nil {
			return definition{}, fmt.Errorf("definition JSON: %w: %v", hypervisor.ErrBadImage, err)
		}
		if dec.More() {
			return definition{}, fmt.Errorf("definition JSON has trailing data: %w", hypervisor.ErrBadImage)
		}
		if cs.GuestID == "" || cs.Datastore == "" {
			return definition{}, fmt.Errorf("definition JSON needs guestId and datastore, got guestId %q datastore %q: %w", cs.GuestID, cs.Datastore, hypervisor.ErrBadImage)
		}
		if !printable(cs.GuestID) || !printable(cs.Datastore) || strings.ContainsAny(cs.Datastore, "[]") {
			return definition{}, fmt.Errorf("definition JSON guestId or datastore has forbidden characters: %w", hypervisor.ErrBadImage)
		}
		return definition{create: &cs}, nil
	}
	s := string(b)
	if err := checkVMXPath(s); err != nil {
		return definition{}, err
	}
	return definition{vmx: s}, nil
}

// checkVMXPath accepts "[datastore] dir/name.vmx".
func checkVMXPath(s string) error {
	var p object.DatastorePath
	switch {
	case !printable(s):
		return fmt.Errorf("definition %q has control or invalid characters: %w", s, hypervisor.ErrBadImage)
	case !p.FromString(s) || p.Datastore == "" || strings.ContainsAny(p.Datastore, "[]"):
		return fmt.Errorf("definition %q is not a datastore path like \"[ds] dir/name.vmx\": %w", s, hypervisor.ErrBadImage)
	case path.Ext(p.Path) != ".vmx" || path.Base(p.Path) == ".vmx":
		return fmt.Errorf("definition %q does not name a .vmx file: %w", s, hypervisor.ErrBadImage)
	case !relativeInside(p.Path):
		return fmt.Errorf("definition %q has an absolute path or \"..\": %w", s, hypervisor.ErrBadImage)
	}
	return nil
}

// checkDiskPath accepts "[datastore] dir/name.vmdk", by the .vmx rules:
// relative to the datastore, without "..".
func checkDiskPath(s string) error {
	var p object.DatastorePath
	switch {
	case !printable(s) || !p.FromString(s) || p.Datastore == "" || strings.ContainsAny(p.Datastore, "[]") || path.Ext(p.Path) != ".vmdk":
		return fmt.Errorf("disk %q is not a datastore path like \"[ds] dir/disk.vmdk\": %w", s, hypervisor.ErrBadImage)
	case !relativeInside(p.Path):
		return fmt.Errorf("disk %q has an absolute path or \"..\": %w", s, hypervisor.ErrBadImage)
	}
	return nil
}

// relativeInside reports whether a path inside a datastore stays inside
// it: not absolute, no ".." element, no backslash (which ESXi's own
// paths never hold and Windows-hosted tools read as a separator).
func relativeInside(p string) bool {
	return !strings.HasPrefix(p, "/") && !strings.Contains("/"+p+"/", "/../") && !strings.Contains(p, `\`)
}

// datastoreOf returns the datastore of a datastore path, or "".
func datastoreOf(s string) string {
	var p object.DatastorePath
	if !p.FromString(s) {
		return ""
	}
	return p.Datastore
}

// checkDatastore refuses a datastore the configuration does not list;
// what names the path or field it came from.
func checkDatastore(ds, what string, allowed []string) error {
	if !slices.Contains(allowed, ds) {
		return fmt.Errorf("%s: datastore %q is not one of Config.Datastores %q: %w", what, ds, allowed, hypervisor.ErrBadImage)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// sameDatastorePath compares two datastore paths, ignoring spacing.
func sameDatastorePath(a, b string) bool {
	var pa, pb object.DatastorePath
	if !pa.FromString(a) || !pb.FromString(b) {
		return a == b
	}
	return pa.Datastore == pb.Datastore && path.Clean(pa.Path) == path.Clean(pb.Path)
}
