package main

import (
	"io"
)

func runDemo(args []string, stdout, stderr io.Writer) error {
	return usageError("demo: not built yet")
}
