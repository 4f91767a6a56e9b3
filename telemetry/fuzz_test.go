package telemetry

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeLine: any line decodes or is refused with ErrMalformed,
// never a panic; a decoded record encodes and decodes to the same status.
func FuzzDecodeLine(f *testing.F) {
	line, _ := Encode(FromStatus(fullStatus()))
	f.Add(bytes.TrimSpace(line))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeLine(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		st, err := r.Status()
		if err != nil {
			t.Fatalf("decoded but Status fails: %v", err)
		}
		again, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeLine(bytes.TrimSpace(again))
		if err != nil {
			t.Fatalf("re-encoded line refused: %v\n%s", err, again)
		}
		st2, _ := r2.Status()
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("status changed through encode:\n%+v\n%+v", st, st2)
		}
	})
}
