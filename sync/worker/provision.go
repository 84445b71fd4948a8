package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
)

// Step is one stage of provisioning on demand, as Entra shows them:
// import, scope, match, action.
type Step struct {
	Name   string
	Detail string
	Err    error
}

// Provision syncs one source user now, outside the schedule, reporting
// each step. It takes the pair's lease like a cycle (so it never races
// one) and goes through the same plan and apply code.
func (p *Pair) Provision(ctx context.Context, idOrUPN string, step func(Step)) (Report, error) {
	rep := Report{Pair: p.PairName, Start: p.now()}
	ctx, c, fail, release, err := p.startProvision(ctx, &rep, step)
	if err != nil {
		return rep, err
	}
	defer release()

	u, err := p.Source.User(ctx, idOrUPN, p.Rules.SourceProperties())
	if err != nil {
		return fail("import", fmt.Errorf("read %s from the source: %w", idOrUPN, err))
	}
	users := []directory.User{*u}
	if p.Rules.MapsManager() {
		if err := c.readManagers(ctx, users); err != nil {
			return fail("import", err)
		}
	}
	step(Step{Name: "import", Detail: fmt.Sprintf("%s (%s): %s", who(users[0]), u.ID, describeUser(users[0]))})

	if len(p.Rules.Groups()) > 0 {
		if c.members, err = c.readMembers(ctx); err != nil {
			return fail("scope", err)
		}
	}
	in, why := scopedRules{Rules: p.Rules, members: c.members}.InScope(users[0])
	if in {
		step(Step{Name: "scope", Detail: "in scope: " + why})
	} else {
		step(Step{Name: "scope", Detail: "out of scope: " + why})
	}
	if err := c.loadStaged(ctx); err != nil {
		return fail("match", err)
	}
	pl, err := c.plan(ctx, users)
	if err != nil {
		return fail("match", err)
	}
	e, mapped, err := p.Store.Get(ctx, p.PairName, u.ID)
	if err != nil {
		return fail("match", fmt.Errorf("read map: %w", err))
	}
	if mapped {
		step(Step{Name: "match", Detail: fmt.Sprintf("mapped to guest %s (%s)", e.GuestID, e.State)})
	} else {
		step(Step{Name: "match", Detail: "not mapped yet: the create step looks for a stamped guest, then for a guest with the same mail"})
	}
	if pl.Empty() {
		detail := "nothing to do: the guest already matches"
		if !mapped && !in {
			detail = "nothing to do: out of scope, and no guest to act on"
		}
		step(Step{Name: "action", Detail: detail})
		rep.End = p.now()
		return rep, nil
	}
	c.apply(ctx, pl)
	if c.fatal != nil {
		return fail("action", c.fatal)
	}
	for _, ch := range pl.Changes {
		step(Step{Name: "action", Detail: fmt.Sprintf("%s: %s", ch.Action, ch.Reason)})
	}
	if err := c.fixManagers(ctx); err != nil {
		return fail("action", err)
	}
	rep.End = p.now()
	if rep.Failures > 0 {
		e, _, _ := p.Store.Get(ctx, p.PairName, u.ID)
		err := fmt.Errorf("failed and parked for a retry: %s", e.LastError)
		step(Step{Name: "result", Err: err})
		return rep, err
	}
	var done []string
	for _, k := range rep.Kinds() {
		done = append(done, fmt.Sprintf("%s %d", k, rep.Counts[k]))
	}
	step(Step{Name: "result", Detail: strings.Join(done, ", ")})
	return rep, nil
}

// startProvision begins a provision on demand reporting into rep: it
// takes the pair's lease (provisionLease) and returns the cycle, holding
// it, that the steps run in, release, and fail, which reports a step
// failed and ends rep. A lease not taken fails the step "lease": the
// caller returns rep and err.
func (p *Pair) startProvision(ctx context.Context, rep *Report, step func(Step)) (_ context.Context, c *cycle,
	fail func(name string, err error) (Report, error), release func(), err error) {
	fail = func(name string, err error) (Report, error) {
		step(Step{Name: name, Err: err})
		rep.Err, rep.End = err, p.now()
		return *rep, err
	}
	ctx, lease, release, err := p.provisionLease(ctx)
	if err != nil {
		_, err = fail("lease", err)
		return ctx, nil, nil, nil, err
	}
	return ctx, &cycle{p: p, lease: lease, rep: rep}, fail, release, nil
}

// provisionLease takes the pair's lease for provisioning on demand (users
// and groups alike) and keeps it alive in the returned context; release
// lets it go.
func (p *Pair) provisionLease(ctx context.Context) (_ context.Context, _ *guestmap.Lease, release func(), _ error) {
	lease, err := p.Store.Acquire(ctx, p.PairName, p.LeaseTTL)
	if err != nil {
		if errors.Is(err, guestmap.ErrHeld) {
			err = errors.New("a cycle of this pair is running on another ctsync; try again in a moment")
		}
		return ctx, nil, nil, err
	}
	ctx, stop := lease.KeepAlive(ctx)
	return ctx, lease, func() { stop(); _ = lease.Release(context.WithoutCancel(ctx)) }, nil
}

func who(u directory.User) string {
	if s := u.Str(directory.PropUPN); s != "" {
		return s
	}
	return u.ID
}

func describeUser(u directory.User) string {
	parts := []string{fmt.Sprintf("userType %v", u.Attrs[directory.PropUserType]), fmt.Sprintf("accountEnabled %v", u.Enabled())}
	if m := u.Str(directory.PropMail); m != "" {
		parts = append(parts, "mail "+m)
	}
	return strings.Join(parts, ", ")
}
