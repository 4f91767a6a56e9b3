package main

import (
	"io"
)

func runStatus(args []string, stdout, stderr io.Writer) error {
	return usageError("status: not built yet")
}
