package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
)

// Ownership is what a read of a target user says about whose it is. It is
// decided from the user's own properties only (creationType, UPN,
// externalUserState and the stamp slot), never from ctsync's store, so that
// a lost or stale store cannot make ctsync touch an account it does not own.
type Ownership string

const (
	// Ours: a B2B user carrying this pair's stamp for this source user.
	Ours Ownership = "ours"
	// Unstamped: a B2B user with an empty stamp slot: adoptable, per policy.
	Unstamped Ownership = "unstamped"
	// StampedForOther: a B2B user carrying ctsync's stamp for another
	// source user (or another source tenant). Never re-stamped.
	StampedForOther Ownership = "stamped for another source user"
	// SlotInUse: a B2B user whose stamp slot holds a value that is not a
	// ctsync stamp: the target uses the slot for something else.
	SlotInUse Ownership = "stamp slot holds another value"
	// NotExternal: one of the target's own accounts (a member, or any user
	// not created by invitation and without an external identity). ctsync
	// never adopts, updates, disables or deletes it.
	NotExternal Ownership = "not a B2B user"
)

// External reports whether u is a B2B user: created by invitation, with an
// #EXT# UPN, or with an external user state. Each of the three alone is
// enough, because Graph fills them at different times (creationType at
// invitation, externalUserState once invited, the UPN form always for
// invited users); a target's own member has none of them.
func External(u directory.User) bool {
	return strings.EqualFold(u.Str(directory.PropCreationType), "Invitation") ||
		strings.Contains(strings.ToUpper(u.Str(directory.PropUPN)), "#EXT#") ||
		u.Str(directory.PropExternalUserState) != ""
}

// OwnershipProps are the properties a read must carry for Owner to decide:
// the stamp slot is added by the caller.
var OwnershipProps = []string{
	directory.PropUPN, directory.PropMail, directory.PropUserType, directory.PropCreationType,
	directory.PropExternalUserState, PropCreated,
}

// PropCreated is the user's creation time (RFC 3339), read to tell a guest
// an invitation has just created from one that existed before it.
const PropCreated = "createdDateTime"

// Owner decides whose u is, for a pair writing stamp into slot stampAttr.
func Owner(u directory.User, stampAttr, stamp string) Ownership {
	if !External(u) {
		return NotExternal
	}
	switch v := u.Str(stampAttr); {
	case v == stamp:
		return Ours
	case v == "":
		return Unstamped
	case strings.HasPrefix(v, directory.StampPrefix):
		return StampedForOther
	default:
		return SlotInUse
	}
}

// Describe names a target user for people: object ID, UPN, type and, for
// a stamped one, the source user it stands for.
func Describe(u directory.User, stampAttr string) string {
	s := "target user " + u.ID
	if upn := u.Str(directory.PropUPN); upn != "" {
		s += " (" + upn + ")"
	}
	if t := u.Str(directory.PropUserType); t != "" {
		s += ", userType " + t
	}
	if _, src, ok := directory.ParseStamp(u.Str(stampAttr)); ok {
		s += ", synced for source user " + src
	}
	return s
}

// CheckOwned returns nil when u is ours, else an error saying why ctsync
// refuses to write to it. Every update and destructive action calls it on
// a fresh read by ID of the guest first.
func CheckOwned(u directory.User, stampAttr, stamp string, action Action) error {
	o := Owner(u, stampAttr, stamp)
	if o == Ours {
		return nil
	}
	return &ConflictError{Reason: fmt.Sprintf("refusing to %s %s: %s (expected stamp %s)", action, Describe(u, stampAttr), o, stamp)}
}

// ConflictError is a decision not to write because the target holds an
// account ctsync does not own where it expected its own guest, or where
// it would have adopted one. The user is parked and reported; nothing is
// written.
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return "conflict: " + e.Reason }

// MatchKind is how the create step resolves a source user without a guest.
type MatchKind string

const (
	// Invite: nothing in the target stands for the user; invite.
	Invite MatchKind = "invite"
	// AdoptOwn: a guest carries this user's stamp (an earlier invitation,
	// a lost store): take it back.
	AdoptOwn MatchKind = "adopt-own"
	// AdoptFound: an unstamped B2B user with the user's mail is adopted
	// (existing_guest = adopt, or ctsync's own earlier invitation).
	AdoptFound MatchKind = "adopt"
	// SkipFound: an unstamped B2B user exists and the policy says skip.
	SkipFound MatchKind = "skip"
	// Refuse: nothing may be written: a conflict or a policy of "fail";
	// Reason says which, naming both objects.
	Refuse MatchKind = "refuse"
)

// MatchResult is the outcome of the create step's match.
type MatchResult struct {
	Kind    MatchKind
	GuestID string
	Reason  string
	// Conflict marks a Refuse caused by an account ctsync must not touch
	// (as opposed to a policy of "fail").
	Conflict bool
}

// MatchInput is what the create step knows when it decides.
type MatchInput struct {
	SourceID  string
	Mail      string
	Stamp     string
	StampAttr string
	// ByStamp and ByMail are the candidates list queries found. Graph's
	// list queries read a lagging index: they may miss a recent write and
	// show stale values, so a decision to adopt is confirmed on a read by
	// ID (Confirm) before anything is written.
	ByStamp, ByMail []directory.User
	// InvitedBefore: ctsync's mark of an earlier invitation for this user
	// exists (a crash or a lost answer between invite and stamp).
	InvitedBefore bool
	// ExistingGuest is the pair's policy: "adopt", "skip" or "fail".
	ExistingGuest string
	// MailDomainVerified: the mail's domain is a verified domain of the
	// source tenant. Adopting a guest by mail requires it, so a source user
	// cannot claim the guest of a third party's address.
	MailDomainVerified bool
	// ApprovedGuest is an unstamped guest an admin approved adopting for
	// this user (ctsync approve on a staged adopt): found by mail, it is
	// adopted whatever ExistingGuest says.
	ApprovedGuest string
	// Pair names the pair in the commands a held adoption suggests.
	Pair string
}

// Match decides the create step from the candidates, before any write.
//
//	candidates                                     result
//	one B2B user with our stamp                    adopt-own
//	several with our stamp                         refuse (resolve by hand)
//	our stamp on a non-B2B user                    refuse, conflict
//	none by stamp, none by mail                    invite
//	by mail: a member / stamped for another / slot refuse, conflict
//	by mail: several unstamped B2B users           refuse (resolve by hand)
//	by mail: one unstamped, our mark exists        adopt (our own invitation)
//	by mail: one unstamped, policy adopt, domain   adopt
//	by mail: one unstamped, policy adopt, no dom.  refuse, conflict
//	by mail: one unstamped, an admin approved it   adopt
//	by mail: one unstamped, policy skip            skip: held for an admin
//	by mail: one unstamped, policy fail            refuse
func Match(in MatchInput) MatchResult {
	var own []directory.User
	for _, u := range in.ByStamp {
		switch Owner(u, in.StampAttr, in.Stamp) {
		case Ours:
			own = append(own, u)
		case NotExternal:
			if u.Str(in.StampAttr) == in.Stamp {
				return conflict("%s carries this user's stamp %s but is not a B2B user; remove the stamp by hand", Describe(u, in.StampAttr), in.Stamp)
			}
		}
	}
	switch len(own) {
	case 0:
	case 1:
		return MatchResult{Kind: AdoptOwn, GuestID: own[0].ID, Reason: "a guest already carries this user's stamp"}
	default:
		ids := make([]string, len(own))
		for i, u := range own {
			ids[i] = u.ID
		}
		return MatchResult{Kind: Refuse, Reason: fmt.Sprintf("%d guests carry stamp %s (%s): resolve by hand (delete the extra ones)", len(own), in.Stamp, strings.Join(ids, ", "))}
	}
	if in.Mail == "" {
		return MatchResult{Kind: Refuse, Reason: "the source user has no mail: nothing to invite"}
	}
	var free []directory.User
	for _, u := range in.ByMail {
		switch o := Owner(u, in.StampAttr, in.Stamp); o {
		case Ours:
			// The stamp index lagged behind the mail index: ours all the same.
			return MatchResult{Kind: AdoptOwn, GuestID: u.ID, Reason: "a guest already carries this user's stamp"}
		case Unstamped:
			free = append(free, u)
		default:
			return conflict("mail %s of source user %s is held by %s: %s; nothing is written", in.Mail, in.SourceID, Describe(u, in.StampAttr), o)
		}
	}
	switch {
	case len(free) == 0:
		return MatchResult{Kind: Invite, Reason: "no guest stands for the user yet"}
	case len(free) > 1:
		return MatchResult{Kind: Refuse, Reason: fmt.Sprintf("%d B2B users of the target have mail %s: resolve by hand", len(free), in.Mail)}
	}
	return decideFound(in, free[0], "")
}

// decideFound applies the existing-guest rules to one unstamped B2B user
// with the source user's mail. how says how it was found, for the reason.
func decideFound(in MatchInput, g directory.User, how string) MatchResult {
	who := Describe(g, in.StampAttr) + how
	switch {
	case in.InvitedBefore:
		return MatchResult{Kind: AdoptFound, GuestID: g.ID, Reason: "ctsync's own earlier invitation: " + who + " is adopted"}
	case in.ApprovedGuest != "" && in.ApprovedGuest == g.ID:
		return MatchResult{Kind: AdoptFound, GuestID: g.ID, Reason: who + " is adopted: an admin approved it"}
	case in.ExistingGuest == "adopt" && !in.MailDomainVerified:
		return conflict("%s has mail %s, whose domain is not a verified domain of the source tenant: a source user cannot adopt a third party's guest", who, in.Mail)
	case in.ExistingGuest == "adopt":
		return MatchResult{Kind: AdoptFound, GuestID: g.ID, Reason: who + " with mail " + in.Mail + " is adopted (existing_guest = adopt)"}
	case in.ExistingGuest == "fail":
		return MatchResult{Kind: Refuse, Reason: fmt.Sprintf("the target already has %s with mail %s that ctsync did not create (existing_guest = fail)", who, in.Mail)}
	default:
		return MatchResult{Kind: SkipFound, GuestID: g.ID, Reason: fmt.Sprintf("the target already has %s with mail %s and no ctsync stamp (existing_guest = skip); "+
			"it may be ctsync's own invitation whose stamp was never written (a crash, or a store that lost its state). "+
			"Adopt it: ctsync approve --pair %s --user %s; leave the user unsynced: ctsync reject --pair %s --user %s", who, in.Mail, in.Pair, in.SourceID, in.Pair, in.SourceID)}
	}
}

func conflict(format string, args ...any) MatchResult {
	return MatchResult{Kind: Refuse, Conflict: true, Reason: fmt.Sprintf(format, args...)}
}

// Confirm re-checks an adoption on a fresh read by ID of the chosen guest:
// list queries may have shown stale values. It returns the result to act
// on (the same one, or a Refuse).
func Confirm(in MatchInput, m MatchResult, fresh directory.User) MatchResult {
	o := Owner(fresh, in.StampAttr, in.Stamp)
	switch {
	case m.Kind == AdoptOwn && o == Ours:
		return m
	case m.Kind == AdoptFound && o == Ours:
		return MatchResult{Kind: AdoptOwn, GuestID: fresh.ID, Reason: "a guest already carries this user's stamp"}
	case m.Kind == AdoptFound && o == Unstamped:
		return m
	case o == Unstamped:
		return MatchResult{Kind: Refuse, Reason: fmt.Sprintf("%s lost this user's stamp since it was found: resolve by hand", Describe(fresh, in.StampAttr))}
	}
	return conflict("%s changed since it was found: %s; nothing is written", Describe(fresh, in.StampAttr), o)
}

// AfterInvite decides what the guest an invitation returned is. Graph
// answers an invitation of an address that already has a guest with that
// guest (a re-invitation, no new object), and the lagging index may have
// hidden it from Match: so the returned guest is read by ID and judged
// here before anything is patched. invitedAt is when the invitation was
// sent, by ctsync's clock; a guest created well before it existed already.
func AfterInvite(in MatchInput, g directory.User, invitedAt time.Time) MatchResult {
	switch o := Owner(g, in.StampAttr, in.Stamp); o {
	case Ours:
		return MatchResult{Kind: AdoptOwn, GuestID: g.ID, Reason: "the invitation returned the guest already stamped for this user"}
	case Unstamped:
		if created, err := time.Parse(time.RFC3339, g.Str(PropCreated)); err == nil && created.Before(invitedAt.Add(-clockSkew)) {
			return decideFound(in, g, " (returned by the invitation: it existed before)")
		}
		return MatchResult{Kind: Invite, GuestID: g.ID, Reason: "invited"}
	default:
		return conflict("the invitation of %s returned %s: %s; nothing is written", in.Mail, Describe(g, in.StampAttr), o)
	}
}

// clockSkew is how far Graph's clock (createdDateTime) and ctsync's may
// disagree: a guest created more than this before ctsync sent its
// invitation existed before it.
const clockSkew = 2 * time.Minute
