package ipmibmc_test

import (
	"errors"
	"fmt"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc"
)

// A Config prints and logs without its password.
func ExampleConfig_String() {
	cfg := ipmibmc.DefaultConfig("10.0.0.21", "admin", "hunter2")
	fmt.Println(cfg)
	// Output: ipmibmc.Config{Host:"10.0.0.21" Port:623 Username:"admin" Password:REDACTED Interface:lanplus CipherSuite:17 AllowIPMI15:false Timeout:1s Retries:1 WatchdogPretimeout:false ThresholdRefresh:1m0s SDRCacheDir:"" PowerPoll:250ms}
}

// Cipher suite 0 (no authentication) and empty passwords are refused.
func ExampleConfig_Validate() {
	cfg := ipmibmc.DefaultConfig("10.0.0.21", "admin", "hunter2")
	cfg.CipherSuite = 0
	err := cfg.Validate()
	fmt.Println(errors.Is(err, bmc.ErrInsecure))
	fmt.Println(err)
	// Output:
	// true
	// failover: insecure BMC configuration: Config.CipherSuite 0 lacks authentication, integrity or encryption; use 17 or 3
}

// A rack manager reads every role of a server from one adapter; the
// session opens on the first call and reopens after a BMC restart.
func ExampleNew() {
	b, err := ipmibmc.New(ipmibmc.DefaultConfig("10.0.0.21", "admin", "hunter2"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	var _ bmc.BMC = b // sensors, watchdog, health and power
	fmt.Println(b)
	// Output: ipmibmc(10.0.0.21:623)
}
