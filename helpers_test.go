package failover

import (
	"math"
	"strings"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }
func nan() float64                { return math.NaN() }
