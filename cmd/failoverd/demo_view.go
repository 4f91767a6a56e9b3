package main

import (
	"flag"
	"fmt"
)

// demoView is what `failoverd demo` serves operators besides its
// timeline: the rack manager's live page, when -page-addr is given.
type demoView struct {
	pageAddr  string
	tokenFile string
}

func demoViewFlags(fs *flag.FlagSet) *demoView {
	v := &demoView{}
	fs.StringVar(&v.pageAddr, "page-addr", "", "serve the rack manager's live page over TLS at this host:port (its certificate is the demo's CA's; see -keep)")
	fs.StringVar(&v.tokenFile, "operator-token-file", "", "with -page-addr: the operator token a browser presents (?token=...), at least 16 bytes")
	return v
}

// yaml is the rack_manager.page section of the demo's config (indented
// under rack_manager), or nothing.
func (v *demoView) yaml() string {
	if v == nil || v.pageAddr == "" {
		return ""
	}
	s := fmt.Sprintf("  page:\n    listen: %q\n", v.pageAddr)
	if v.tokenFile != "" {
		s += fmt.Sprintf("    token_file: %q\n", v.tokenFile)
	}
	return s
}
