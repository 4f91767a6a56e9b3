package vspherehv

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/hypervisor"
)

func TestParseDefinition(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want definition
		bad  string // substring of the error, "" for success
	}{
		{in: "[ds1] web/web.vmx", want: definition{vmx: "[ds1] web/web.vmx"}},
		{in: "  [shared ds] a b/a b.vmx\n", want: definition{vmx: "[shared ds] a b/a b.vmx"}},
		{in: `{"guestId":"otherGuest64","datastore":"ds1"}`, want: definition{create: &createSpec{GuestID: "otherGuest64", Datastore: "ds1"}}},
		{in: "", bad: "empty definition"},
		{in: "web.vmx", bad: "not a datastore path"},
		{in: "[] web/web.vmx", bad: "not a datastore path"},
		{in: "[ds1] web/web.vmdk", bad: "does not name a .vmx"},
		{in: "[ds1] .vmx", bad: "does not name a .vmx"},
		{in: "[ds1] /etc/web.vmx", bad: "absolute path"},
		{in: "[ds1] a/../../web.vmx", bad: `".."`},
		{in: "[ds1] web/we\x00b.vmx", bad: "control"},
		{in: "[ds1] web/we\xffb.vmx", bad: "invalid characters"},
		{in: `{"guestId":"a"}`, bad: "needs guestId and datastore"},
		{in: `{"guestId":"a","datastore":"b"} {}`, bad: "trailing data"},
		{in: `{"guestId":"a","datastore":"b","extra":1}`, bad: "unknown field"},
		{in: `{"guestId":"a","datastore":"[b]"}`, bad: "forbidden characters"},
		{in: `{"guestId":1,"datastore":"b"}`, bad: "definition JSON"},
		{in: `{`, bad: "definition JSON"},
		{in: strings.Repeat(" ", 10) + "[d] " + strings.Repeat("a", maxDefinition) + ".vmx", bad: "more than"},
	} {
		got, err := parseDefinition([]byte(tc.in))
		if tc.bad == "" {
			if err != nil {
				t.Errorf("parseDefinition(%q): %v", tc.in, err)
				continue
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(definition{})); diff != "" {
				t.Errorf("parseDefinition(%q) (-want +got):\n%s", tc.in, diff)
			}
			continue
		}
		if !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("parseDefinition(%.40q) = %v; want ErrBadImage saying %q", tc.in, err, tc.bad)
		}
	}
}

// FuzzParseDefinition: never panics; every result is either an error
// wrapping ErrBadImage or exactly one well-formed form.
func FuzzParseDefinition(f *testing.F) {
	for _, s := range []string{
		"[ds1] web/web.vmx", `{"guestId":"otherGuest64","datastore":"ds1"}`, "", "[", "[]", "[a]b.vmx",
		`{"guestId":"a","datastore":"b"}{}`, "[ds] ../x.vmx", "{\"guestId\":\"\\u0000\",\"datastore\":\"d\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDefinition(b)
		if err != nil {
			if !errors.Is(err, hypervisor.ErrBadImage) {
				t.Fatalf("error does not wrap ErrBadImage: %v", err)
			}
			return
		}
		switch {
		case d.create != nil && d.vmx != "":
			t.Fatalf("both forms set: %+v", d)
		case d.create != nil:
			if d.create.GuestID == "" || d.create.Datastore == "" || !utf8.ValidString(d.create.Datastore) {
				t.Fatalf("create form with bad fields: %+v", d.create)
			}
		case d.vmx == "":
			t.Fatal("neither form set without an error")
		default:
			if checkVMXPath(d.vmx) != nil || !strings.HasSuffix(d.vmx, ".vmx") || !utf8.ValidString(d.vmx) {
				t.Fatalf("register form %q does not recheck", d.vmx)
			}
		}
	})
}
