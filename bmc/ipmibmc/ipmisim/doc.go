// Package ipmisim starts OpenIPMI's ipmi_sim (Debian package openipmi) as a
// real BMC on loopback for tests: it writes the lan.conf, the .emu file
// and the sensor data records itself, picks free ports, changes sensors at
// run time through the simulator's console, and stops the simulator and
// its power child process afterwards.
//
// A *Sim is safe for concurrent use. Start needs the ipmi_sim binary on
// PATH; Available says whether it is there.
package ipmisim
