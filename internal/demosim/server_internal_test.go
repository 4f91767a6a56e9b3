package demosim

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestCallContextFollowsClientDeadline(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration // 0: no deadline
	}{
		{"", 0},
		{"250000000", 250 * time.Millisecond},
		{"7200000000000", maxCallTimeout}, // two hours: shortened
	} {
		r := httptest.NewRequest("POST", "/v1/bmc/a/kick", nil)
		if tc.header != "" {
			r.Header.Set(timeoutHeader, tc.header)
		}
		ctx, cancel, err := callContext(r)
		if err != nil {
			t.Fatalf("header %q: %v", tc.header, err)
		}
		d, ok := ctx.Deadline()
		cancel()
		switch {
		case tc.want == 0 && ok:
			t.Errorf("header %q: deadline %v, want none", tc.header, d)
		case tc.want != 0 && (!ok || time.Until(d) > tc.want || time.Until(d) < tc.want-time.Second):
			t.Errorf("header %q: deadline in %v, want about %v", tc.header, time.Until(d), tc.want)
		}
	}
	for _, bad := range []string{"0", "-1", "1s", "9999999999999999999999"} {
		r := httptest.NewRequest("POST", "/v1/bmc/a/kick", nil)
		r.Header.Set(timeoutHeader, bad)
		if _, _, err := callContext(r); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}
