package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/sync/plan"
)

// MarkReason is the LastError of a pre-invitation mark, the parked entry
// written just before POST /invitations. While the pair's cycle runs it is
// an invitation in flight; after a crash it is a parked user whose retry
// takes the invited guest back.
const MarkReason = "invitation in progress"

// create runs the crash-safe, duplicate-free create path: lock the user,
// re-check the map, find candidates (our stamp, then the mail), confirm an
// adoption on a read by ID, else mark and invite, judge the guest the
// invitation returned on a read by ID, then stamp and patch. Candidates
// come from list queries, which read Graph's lagging index: every decision
// to write rests on a read by ID (see plan.Match, plan.Confirm and
// plan.AfterInvite).
func (c *cycle) create(ctx context.Context, o *outcome) error {
	p, ch := c.p, o.change
	lock, e, err := p.Store.LockUser(ctx, p.PairName, ch.SourceID, p.LeaseTTL)
	if errors.Is(err, guestmap.ErrHeld) {
		// Parked, not skipped: the delta link moves on after this cycle,
		// so only a retry brings the user back.
		return errors.New("another ctsync is creating this user's guest right now; retrying later")
	}
	if err != nil {
		return fmt.Errorf("%w: lock user: %w", errFatal, err)
	}
	o.lock = lock
	if e != nil && e.GuestID != "" && e.State != guestmap.StateParked {
		o.skipped = "mapped meanwhile by another ctsync"
		return nil
	}
	in, err := c.matchInput(ctx, ch, invitationMarked(e))
	if err != nil {
		return err
	}
	m, err := c.confirm(ctx, in, plan.Match(in))
	if err != nil {
		return err
	}
	if m.Kind == plan.Invite {
		if m, err = c.invite(ctx, ch, in); err != nil {
			return err
		}
	}
	switch m.Kind {
	case plan.Refuse:
		return refusal(m)
	case plan.SkipFound:
		// Not skipped silently: the user would stay unsynced with no
		// trace in status. Held for an admin, who adopts the guest or
		// leaves the user out (staged Adopt).
		o.action, o.guestID = plan.Stage, m.GuestID
		o.stage = &guestmap.Staged{SourceID: ch.SourceID, GuestID: m.GuestID, Action: string(plan.Adopt), Reason: m.Reason, Since: p.now()}
		return nil
	case plan.Invite:
		o.action = plan.Create
	default:
		o.action = plan.Adopt
	}
	o.guestID = m.GuestID
	set := make(map[string]any, len(ch.Set)+1)
	for k, v := range ch.Set {
		set[k] = v
	}
	set[p.StampAttribute] = in.Stamp
	if err := p.Target.Update(ctx, m.GuestID, set); err != nil {
		return fmt.Errorf("stamp and set attributes of guest %s: %w", m.GuestID, err)
	}
	o.set, o.state = set, guestmap.StateActive
	return nil
}

// invite leaves the pre-invitation mark, invites, reads the guest the
// invitation returned by ID and judges it: Graph returns an existing guest
// for an address that has one, which the lagging index may have hidden.
func (c *cycle) invite(ctx context.Context, ch plan.Change, in plan.MatchInput) (plan.MatchResult, error) {
	p := c.p
	// The mark: after a crash between the invite and the stamp, the next
	// attempt adopts the unstamped guest it finds by mail (or that the
	// invitation returns) instead of treating it as someone else's.
	mark := guestmap.Entry{SourceID: ch.SourceID, Stamp: in.Stamp, State: guestmap.StateParked, Created: p.now(),
		NextRetry: p.now().Add(p.Retry.Delay(1)), LastError: MarkReason, Attempts: 1}
	if err := p.Store.Apply(ctx, c.lease, guestmap.Batch{Put: []guestmap.Entry{mark}}); err != nil {
		return plan.MatchResult{}, fmt.Errorf("%w: mark invitation: %w", errFatal, err)
	}
	c.setEntry(mark)
	invitedAt := p.now()
	id, err := p.Target.Invite(ctx, directory.Invitation{
		Email:       in.Mail,
		DisplayName: ch.User.Str(directory.PropDisplayName),
		UserType:    p.Rules.UserType(),
		RedirectURL: p.RedirectURL,
		SendMessage: p.SendInvitation,
	})
	if err != nil {
		return plan.MatchResult{}, fmt.Errorf("invite %s: %w", in.Mail, err)
	}
	g, err := p.Target.Get(ctx, id, c.ownershipProps())
	if err != nil {
		return plan.MatchResult{}, fmt.Errorf("read guest %s returned by the invitation: %w", id, err)
	}
	return plan.AfterInvite(in, *g, invitedAt), nil
}

// matchInput gathers the candidates for the create step's match.
func (c *cycle) matchInput(ctx context.Context, ch plan.Change, invitedBefore bool) (plan.MatchInput, error) {
	p := c.p
	in := plan.MatchInput{
		SourceID: ch.SourceID, Mail: ch.User.Str(directory.PropMail), Stamp: p.Stamp(ch.SourceID),
		StampAttr: p.StampAttribute, InvitedBefore: invitedBefore, ExistingGuest: p.Rules.ExistingGuest(),
		ApprovedGuest: ch.AdoptGuest, Pair: p.PairName,
	}
	var err error
	if in.ByStamp, err = p.Target.FindByStamp(ctx, in.Stamp); err != nil {
		return in, fmt.Errorf("find guest by stamp: %w", err)
	}
	if in.Mail != "" {
		if in.ByMail, err = p.Target.FindByMail(ctx, in.Mail); err != nil {
			return in, fmt.Errorf("find guest by mail: %w", err)
		}
	}
	if in.ExistingGuest == "adopt" && in.Mail != "" {
		if in.MailDomainVerified, err = c.verifiedDomain(ctx, in.Mail); err != nil {
			return in, err
		}
	}
	return in, nil
}

// confirm re-reads a guest the match wants to adopt by ID: the lists that
// found it may show stale values.
func (c *cycle) confirm(ctx context.Context, in plan.MatchInput, m plan.MatchResult) (plan.MatchResult, error) {
	if m.Kind != plan.AdoptOwn && m.Kind != plan.AdoptFound {
		return m, nil
	}
	g, err := c.p.Target.Get(ctx, m.GuestID, c.ownershipProps())
	if err != nil {
		return m, fmt.Errorf("read guest %s before adopting it: %w", m.GuestID, err)
	}
	return plan.Confirm(in, m, *g), nil
}

// refusal is the error that parks a user the match refused.
func refusal(m plan.MatchResult) error {
	if m.Conflict {
		return &plan.ConflictError{Reason: m.Reason}
	}
	return errors.New(m.Reason)
}

// verifiedDomain reports whether mail's domain is a verified domain of the
// source tenant. The domains are read once per cycle, on first need.
func (c *cycle) verifiedDomain(ctx context.Context, mail string) (bool, error) {
	c.domainsMu.Lock()
	defer c.domainsMu.Unlock()
	if c.domains == nil {
		ds, err := c.p.Source.Domains(ctx)
		if err != nil {
			return false, fmt.Errorf("read the source tenant's verified domains (needed to adopt by mail): %w", err)
		}
		c.domains = make(map[string]bool, len(ds))
		for _, d := range ds {
			c.domains[strings.ToLower(d)] = true
		}
	}
	at := strings.LastIndexByte(mail, '@')
	return at >= 0 && c.domains[strings.ToLower(mail[at+1:])], nil
}

// ownershipProps are what a read of a guest needs for plan.Owner.
func (c *cycle) ownershipProps() []string {
	return append(append([]string{}, plan.OwnershipProps...), c.p.StampAttribute)
}

// invitationMarked reports whether an entry is the mark left before an
// invitation (a stamp but no guest yet): the invitation may have been
// sent, so an unstamped guest with the user's mail is ours to adopt,
// whatever the existing-guest policy says. Parking keeps the mark, so a
// failed or lost invitation is still recognised on the retry; a failure
// before the mark leaves no stamp, and the policy applies.
func invitationMarked(e *guestmap.Entry) bool {
	return e != nil && e.GuestID == "" && e.Stamp != ""
}
