package libvirthv

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Start runs img here: restored from img.Checkpoint when set, else defined
// from img.Definition (domain XML, with its file and block disks pointed
// at img.Disks when those are given) and started. The domain stays defined
// here afterwards.
//
// A checkpoint resumes once, and only when img.Generation is
// img.CheckpointGeneration+1: the save file is consumed (renamed aside,
// then removed) by the restore, so it must lie on storage this process
// reaches, as Config.CheckpointDir does.
//
// Errors: ErrBadImage for XML that does not parse or lacks a name, UUID or
// memory, a name that differs from img.Name, a disk that does not exist,
// an unreadable checkpoint, one resumed already or one of another
// generation; ErrNameTaken when a domain of that name (or
// UUID) here is another VM; ErrAlreadyRunning when the VM runs here, and
// then nothing changes. Calls for the same name are serialized, so one VM
// never starts twice. Start is never retried after a lost connection: when
// the error wraps ErrUnreachable the VM may or may not run; read State.
func (h *Hypervisor) Start(ctx context.Context, img imagestore.Image) error {
	if img.Name == "" {
		return fmt.Errorf("libvirthv: start: image has no Name: %w", hypervisor.ErrBadImage)
	}
	return h.withName(ctx, img.Name, "start", func(c *libvirt.Connect) error {
		if img.Checkpoint != "" {
			return h.restore(c, img)
		}
		return h.coldStart(c, img)
	})
}

// definition returns img's domain XML with img.Disks applied, checked
// against the host's DomainPolicy.
func (h *Hypervisor) definition(img imagestore.Image) ([]byte, domain, error) {
	dom, err := parseDomain(img.Definition)
	if err != nil {
		return nil, domain{}, badImage(img.Name, err)
	}
	if dom.Name != img.Name {
		return nil, domain{}, badImage(img.Name, fmt.Errorf("domain XML names %q", dom.Name))
	}
	def := img.Definition
	if len(img.Disks) > 0 {
		if def, err = withDisks(def, img.Disks); err != nil {
			return nil, domain{}, badImage(img.Name, err)
		}
		dom.Disks = slices.Clone(img.Disks)
	}
	if err := h.checkPolicy(img.Name, def, "the definition"); err != nil {
		return nil, domain{}, err
	}
	return def, dom, nil
}

// checkPolicy checks domain XML (what names where it came from) against
// Config.Domain; on a local host it also follows the symbolic links of
// the files it names.
func (h *Hypervisor) checkPolicy(name string, def []byte, what string) error {
	files, err := checkDomain(def, h.cfg.Domain)
	if err != nil {
		return badImage(name, fmt.Errorf("%s: %w", what, err))
	}
	if hostless(h.cfg.URI) {
		if err := resolvedUnder(files, h.cfg.Domain.ImageRoots); err != nil {
			return badImage(name, fmt.Errorf("%s: %w", what, err))
		}
	}
	return nil
}

func badImage(name string, err error) error {
	return fmt.Errorf("libvirthv: start %q: %w: %w", name, hypervisor.ErrBadImage, err)
}

func (h *Hypervisor) coldStart(c *libvirt.Connect, img imagestore.Image) error {
	if len(img.Definition) == 0 {
		return badImage(img.Name, fmt.Errorf("image has neither a Definition nor a Checkpoint"))
	}
	def, dom, err := h.definition(img)
	if err != nil {
		return err
	}
	if err := h.checkDisks(c, img.Name, dom.Disks); err != nil {
		return err
	}
	old, err := existing(c, dom)
	if err != nil {
		return err
	}
	fresh := old == nil
	if old != nil {
		old.Free() //nolint:errcheck // freeing a handle cannot be acted on
	}
	release, err := h.reserveMemory(c, dom)
	if err != nil {
		return err
	}
	defer release()
	d, err := c.DomainDefineXML(string(def))
	if err != nil {
		return defineErr(img.Name, err)
	}
	defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
	if err := d.Create(); err != nil {
		if fresh {
			d.Undefine() //nolint:errcheck // best effort: leave nothing behind
		}
		return fmt.Errorf("libvirthv: start %q: create: %w", img.Name, err)
	}
	return nil
}

func (h *Hypervisor) restore(c *libvirt.Connect, img imagestore.Image) error {
	if err := checkResumeGeneration(img); err != nil {
		return err
	}
	if err := h.checkCheckpointPath(img); err != nil {
		return err
	}
	if err := checkNotConsumed(img); err != nil {
		// A retry of a restore that worked finds the VM running.
		if rerr := runsHere(c, img); rerr != nil {
			return rerr
		}
		return err
	}
	saved, err := c.DomainSaveImageGetXMLDesc(img.Checkpoint, 0)
	if err != nil && isConnLost(err) {
		return fmt.Errorf("libvirthv: start %q: read checkpoint: %w", img.Name, err)
	}
	if err != nil {
		return badImage(img.Name, fmt.Errorf("checkpoint %q cannot be read: %s", img.Checkpoint, virMessage(err)))
	}
	sdom, err := parseDomain([]byte(saved))
	if err != nil {
		return badImage(img.Name, fmt.Errorf("checkpoint %q: %w", img.Checkpoint, err))
	}
	if sdom.Name != img.Name {
		return badImage(img.Name, fmt.Errorf("checkpoint %q holds domain %q", img.Checkpoint, sdom.Name))
	}
	if err := h.checkPolicy(img.Name, []byte(saved), fmt.Sprintf("checkpoint %q", img.Checkpoint)); err != nil {
		return err
	}
	var def []byte
	if len(img.Definition) > 0 {
		var ddom domain
		if def, ddom, err = h.definition(img); err != nil {
			return err
		}
		if ddom.UUID != sdom.UUID {
			return badImage(img.Name, fmt.Errorf("checkpoint %q holds UUID %s, the definition %s", img.Checkpoint, sdom.UUID, ddom.UUID))
		}
	}
	disks, restoreXML := sdom.Disks, ""
	if len(img.Disks) > 0 && !slices.Equal(img.Disks, sdom.Disks) {
		x, err := withDisks([]byte(saved), img.Disks)
		if err != nil {
			return badImage(img.Name, fmt.Errorf("checkpoint %q: %w", img.Checkpoint, err))
		}
		if err := h.checkPolicy(img.Name, x, fmt.Sprintf("checkpoint %q with the image's disks", img.Checkpoint)); err != nil {
			return err
		}
		disks, restoreXML = img.Disks, string(x)
	}
	if err := h.checkDisks(c, img.Name, disks); err != nil {
		return err
	}
	old, err := existing(c, sdom)
	if err != nil {
		return err
	}
	release, err := h.reserveMemory(c, sdom)
	if err != nil {
		if old != nil {
			old.Free() //nolint:errcheck // freeing a handle cannot be acted on
		}
		return err
	}
	defer release()
	defined := false
	if old != nil {
		old.Free() //nolint:errcheck // freeing a handle cannot be acted on
	} else if def != nil {
		// Define first, so the restored VM stays defined here.
		d, err := c.DomainDefineXML(string(def))
		if err != nil {
			return defineErr(img.Name, err)
		}
		defined = true
		defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		defer func() {
			if defined {
				d.Undefine() //nolint:errcheck // best effort: leave nothing behind
			}
		}()
	}
	from, put, err := consume(img)
	if err != nil {
		return err
	}
	if restoreXML != "" {
		err = c.DomainRestoreFlags(from, restoreXML, 0)
	} else {
		err = c.DomainRestore(from)
	}
	// After a lost connection the VM may run: the file stays consumed.
	put(err == nil || isConnLost(err))
	if err != nil {
		if code, _, _ := virCode(err); code == libvirt.ERR_ARGUMENT_UNSUPPORTED {
			return badImage(img.Name, fmt.Errorf("the image's disks differ from checkpoint %q and this driver cannot change them on restore", img.Checkpoint))
		}
		return fmt.Errorf("libvirthv: start %q: restore from %q: %w", img.Name, img.Checkpoint, err)
	}
	defined = false // keep it
	return nil
}

// runsHere returns ErrAlreadyRunning (or ErrNameTaken, for another VM of
// that name) when a domain named img.Name is active here, else nil.
func runsHere(c *libvirt.Connect, img imagestore.Image) error {
	if dom, err := parseDomain(img.Definition); err == nil && dom.Name == img.Name {
		d, err := existing(c, dom)
		if d != nil {
			d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		}
		if errors.Is(err, hypervisor.ErrAlreadyRunning) || errors.Is(err, hypervisor.ErrNameTaken) {
			return err
		}
		return nil
	}
	d, err := c.LookupDomainByName(img.Name)
	if err != nil {
		return nil
	}
	defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
	if s, _, err := d.GetState(); err == nil && active(vmState(s)) {
		return fmt.Errorf("libvirthv: start %q: it is %v here: %w", img.Name, vmState(s), hypervisor.ErrAlreadyRunning)
	}
	return nil
}

// existing returns the domain already here that is the VM dom describes,
// stopped, or nil when there is none. A running one is ErrAlreadyRunning;
// another VM under that name or UUID is ErrNameTaken.
func existing(c *libvirt.Connect, dom domain) (*libvirt.Domain, error) {
	d, err := c.LookupDomainByName(dom.Name)
	if isNoDomain(err) {
		other, err := c.LookupDomainByUUIDString(dom.UUID)
		if isNoDomain(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("libvirthv: start %q: look up UUID %s: %w", dom.Name, dom.UUID, err)
		}
		defer other.Free() //nolint:errcheck // freeing a handle cannot be acted on
		name, _ := other.GetName()
		return nil, fmt.Errorf("libvirthv: start %q: UUID %s belongs to domain %q here: %w", dom.Name, dom.UUID, name, hypervisor.ErrNameTaken)
	}
	if err != nil {
		return nil, fmt.Errorf("libvirthv: start %q: look up: %w", dom.Name, err)
	}
	uuid, err := d.GetUUIDString()
	if err == nil {
		uuid, err = canonicalUUID(uuid)
	}
	if err != nil {
		d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		return nil, fmt.Errorf("libvirthv: start %q: read UUID: %w", dom.Name, err)
	}
	if uuid != dom.UUID {
		d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		return nil, fmt.Errorf("libvirthv: start %q: a different VM (UUID %s, the image has %s) has that name here: %w", dom.Name, uuid, dom.UUID, hypervisor.ErrNameTaken)
	}
	s, _, err := d.GetState()
	if err != nil {
		d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		return nil, fmt.Errorf("libvirthv: start %q: read state: %w", dom.Name, err)
	}
	if st := vmState(s); active(st) {
		d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		return nil, fmt.Errorf("libvirthv: start %q: it is %v here: %w", dom.Name, st, hypervisor.ErrAlreadyRunning)
	}
	return d, nil
}

// defineErr maps libvirt's refusal of a definition. Libvirt quotes the
// offending XML after the first line of its message; that part is left
// out, since domain XML can hold secrets.
func defineErr(name string, err error) error {
	code, _, ok := virCode(err)
	if !ok {
		return fmt.Errorf("libvirthv: start %q: define: %w", name, err)
	}
	switch code {
	case libvirt.ERR_XML_ERROR, libvirt.ERR_XML_DETAIL, libvirt.ERR_CONFIG_UNSUPPORTED,
		libvirt.ERR_INVALID_ARG, libvirt.ERR_NO_SUPPORT, libvirt.ERR_XML_INVALID_SCHEMA:
		return badImage(name, fmt.Errorf("libvirt refused the definition: %s", virMessage(err)))
	case libvirt.ERR_OPERATION_FAILED:
		// "domain 'x' already exists with uuid ...": raced with another definer.
		return fmt.Errorf("libvirthv: start %q: define: %s: %w", name, virMessage(err), hypervisor.ErrNameTaken)
	}
	return fmt.Errorf("libvirthv: start %q: define: %w", name, err)
}

// virMessage is the first line of a libvirt error's message, with its code.
func virMessage(err error) string {
	var le libvirt.Error
	if !asVir(err, &le) {
		return clip(err.Error())
	}
	msg := le.Message
	for i := 0; i < len(msg); i++ {
		if msg[i] == '\n' {
			msg = msg[:i]
			break
		}
	}
	return fmt.Sprintf("%s (libvirt error %d)", msg, int(le.Code))
}
