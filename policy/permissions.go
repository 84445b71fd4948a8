package policy

// Permission is a Microsoft Graph application permission a pair needs, and
// why, for `ctsync validate` and the README's list.
type Permission struct {
	Name string
	Why  string
}

// Graph application permissions ctsync asks for. Each is the least
// privileged one Microsoft documents for the calls made.
const (
	PermUserRead      = "User.Read.All"          // read source users, delta, managers
	PermUserReadWrite = "User.ReadWrite.All"     // read, update, disable, soft-delete guests
	PermUserInvite    = "User.Invite.All"        // POST /invitations
	PermDeleteRestore = "User.DeleteRestore.All" // restore from and purge deleted items
	PermGroupMembers  = "GroupMember.Read.All"   // group scope
	PermDomainRead    = "Domain.Read.All"        // verified domains, to adopt by mail
	PermGroupWrite    = "Group.ReadWrite.All"    // group sync: create, update, delete groups and members
)

// Permissions returns what the pair needs of its source tenant's app and
// of its target tenant's app. Restoring a guest from deleted items and
// purging one need User.DeleteRestore.All (the "Permanently delete an
// item" and "Restore deleted item" pages); adopting by mail reads the
// source's verified domains (GET /domains, Domain.Read.All).
func (p *Pair) Permissions() (source, target []Permission) {
	source = []Permission{{PermUserRead, "read the source's users, their changes (delta) and managers"}}
	switch {
	case len(p.scope.groups) > 0 && p.groups != nil:
		source = append(source, Permission{PermGroupMembers, "read the groups delta with the members of the scope's groups and of the synced groups"})
	case len(p.scope.groups) > 0:
		source = append(source, Permission{PermGroupMembers, "read the groups delta with the members of the scope's groups"})
	case p.groups != nil:
		source = append(source, Permission{PermGroupMembers, "read the groups delta with the members of the synced groups ([pair.groups])"})
	}
	if p.existingGuest == AdoptExisting {
		source = append(source, Permission{PermDomainRead, "read the source's verified domains (existing_guest = adopt adopts only guests of those domains)"})
	}
	target = []Permission{
		{PermUserInvite, "invite the B2B users"},
		{PermUserReadWrite, "find, stamp, update, disable and soft-delete the B2B users, and revoke the sessions of those the fast lane disables"},
	}
	if p.groups != nil {
		target = append(target, Permission{PermGroupWrite, "create, update and delete the synced security groups and their members ([pair.groups])"})
	}
	restores, purges := p.Action(Restored) == Restore, false
	for _, e := range Events {
		purges = purges || p.Action(e) == HardDelete
	}
	switch {
	case restores && purges:
		target = append(target, Permission{PermDeleteRestore, "restore guests from deleted items (lifecycle.restored) and delete them permanently (hard-delete)"})
	case restores:
		target = append(target, Permission{PermDeleteRestore, "restore guests from deleted items (lifecycle.restored = \"restore\")"})
	case purges:
		target = append(target, Permission{PermDeleteRestore, "delete guests permanently (a lifecycle action is hard-delete)"})
	}
	return source, target
}
