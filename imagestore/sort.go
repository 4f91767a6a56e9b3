package imagestore

import (
	"cmp"
	"slices"
)

// SortByPriority sorts images highest priority first, then by name.
func SortByPriority(imgs []Image) {
	slices.SortStableFunc(imgs, func(a, b Image) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}
