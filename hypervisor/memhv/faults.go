package memhv

// PowerOff stands for the host losing power: every VM is gone, and every
// call fails with an error wrapping hypervisor.ErrUnreachable until
// PowerOn. Wire it to simbmc's Config.OnPower.
func (h *Hypervisor) PowerOff() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = true
	clear(h.vms)
}

// PowerOn brings the host back: reachable (it also ends SetUnreachable)
// and empty.
func (h *Hypervisor) PowerOn() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down, h.unreachable = false, false
	clear(h.vms)
}

// SetUnreachable makes every call fail with an error wrapping
// hypervisor.ErrUnreachable (true), or answer again (false). VMs keep
// running: this is a partition, not a failure.
func (h *Hypervisor) SetUnreachable(unreachable bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unreachable = unreachable
}

// FailCheckpoint makes the following Checkpoint calls fail with err
// (wrap hypervisor.ErrCheckpointFailed for realism); the VM keeps running.
// nil ends it.
func (h *Hypervisor) FailCheckpoint(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failCheckpoint = err
}

// FailStart makes the following Start calls fail with err after the
// usual checks; nil ends it.
func (h *Hypervisor) FailStart(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failStart = err
}
