package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
)

// GroupRebuild is what RebuildGroups found.
type GroupRebuild struct {
	// Stamped counts the target groups carrying a ctsync group stamp.
	Stamped int
	// Mapped counts the source groups recorded with their target group.
	Mapped int
	// Foreign counts stamped groups of other source tenants.
	Foreign int
	// Duplicates are further target groups stamped for an already mapped
	// source group, left alone.
	Duplicates []string
}

// RebuildGroups rebuilds the pair's group entries from the stamps of the
// groups in its target tenant (their mailNickname), under lease: the group
// entries are replaced and the group link forgotten, so the next cycle
// reads the source's groups in full and reconciles every group's members.
// A member the group has in the target counts as ctsync's once the next
// cycle adds it again (which Graph answers "already a member"); in managed
// mode, members ctsync had added for users that left meanwhile stay until
// an admin removes them (exact mode removes them).
func (p *Pair) RebuildGroups(ctx context.Context, lease *guestmap.Lease) (GroupRebuild, error) {
	var res GroupRebuild
	if p.Groups == nil {
		return res, nil
	}
	stamped, ok := p.Groups.Target.(interface {
		StampedGroups(ctx context.Context, page func([]directory.Group) error) error
	})
	if !ok {
		return res, fmt.Errorf("pair %s: its target cannot list stamped groups", p.PairName)
	}
	byGroup := map[string]guestmap.GroupEntry{}
	err := stamped.StampedGroups(ctx, func(groups []directory.Group) error {
		for _, g := range groups {
			res.Stamped++
			tenant, src, ok := directory.ParseGroupStamp(g.Str(directory.PropMailNickname))
			if !ok || !strings.EqualFold(tenant, p.SourceTenantID) {
				res.Foreign++
				continue
			}
			if _, dup := byGroup[src]; dup {
				res.Duplicates = append(res.Duplicates, g.ID)
				continue
			}
			byGroup[src] = guestmap.GroupEntry{SourceID: src, TargetID: g.ID, InScope: true}
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("pair %s: list stamped groups: %w", p.PairName, err)
	}
	b := guestmap.Batch{DropGroups: true}
	for _, e := range byGroup {
		b.PutGroups = append(b.PutGroups, e)
	}
	if err := p.Store.Apply(ctx, lease, b); err != nil {
		return res, fmt.Errorf("pair %s: write group entries: %w", p.PairName, err)
	}
	res.Mapped = len(byGroup)
	return res, nil
}
