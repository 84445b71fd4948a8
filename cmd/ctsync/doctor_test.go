package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/tenants"
)

func TestDoctorSignInFinding(t *testing.T) {
	cases := []struct {
		name string
		f    tenants.CredentialFailure
		want []string // substrings of message + fix
	}{
		{"wrong secret", tenants.CredentialFailure{Code: 7000215, Description: "Invalid client secret provided."},
			[]string{"ctsync.toml:12: sign-in failed: AADSTS7000215 wrong client secret (Invalid client secret provided.)", "client_secret_file /s"}},
		{"expired", tenants.CredentialFailure{Code: 7000222, Description: "The provided client secret keys for app 'x' are expired."},
			[]string{"AADSTS7000222 the client secret has expired", "new client secret"}},
		{"no app", tenants.CredentialFailure{Code: 700016}, []string{"AADSTS700016 the app is not found in the tenant", "admin consent"}},
		{"no tenant", tenants.CredentialFailure{Code: 90002}, []string{"AADSTS90002 the tenant is not found", "tenant_id"}},
		{"other code", tenants.CredentialFailure{Code: 53003, Description: "Access has been blocked by Conditional Access policies."},
			[]string{"AADSTS53003: Access has been blocked by Conditional Access policies.", "AADSTS53003"}},
		{"no code", tenants.CredentialFailure{Description: "read secret file: no such file"}, []string{"sign-in failed: read secret file", "client_secret_file /s"}},
		{"transient", tenants.CredentialFailure{Transient: true, Description: "503"}, []string{"did not answer", "try again"}},
		{"escaped", tenants.CredentialFailure{Code: 1, Description: "a\x1b[31mb"}, []string{`a\x1b[31mb`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := signInFinding("contoso", "ctsync.toml:12", "client_secret_file /s", tc.f)
			if f.Severity != sevError || f.Check != checkSignIn || f.Tenant != "contoso" {
				t.Fatalf("%+v", f)
			}
			all := f.Message + " | " + f.Fix
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("%q lacks %q", all, w)
				}
			}
		})
	}
}

func TestDoctorPermissionFindings(t *testing.T) {
	needs := map[string]*permNeed{
		"User.ReadWrite.All":   {why: "find, stamp and update the B2B users", pairs: []string{"a-to-b (target)"}},
		"User.Invite.All":      {why: "invite the B2B users", pairs: []string{"a-to-b (target)"}},
		"GroupMember.Read.All": {why: "read the members of the scope's groups", pairs: []string{"b-to-a (source)"}},
	}
	cases := []struct {
		name    string
		roles   []string
		missing []string
	}{
		{"exact", []string{"User.ReadWrite.All", "User.Invite.All", "GroupMember.Read.All"}, nil},
		{"supersets", []string{"Directory.ReadWrite.All", "Group.Read.All"}, nil},
		{"read-write covers invite", []string{"User.ReadWrite.All", "GroupMember.Read.All"}, nil},
		{"missing invite", []string{"User.Read.All", "GroupMember.Read.All"}, []string{"User.Invite.All", "User.ReadWrite.All"}},
		{"nothing", nil, []string{"GroupMember.Read.All", "User.Invite.All", "User.ReadWrite.All"}},
		{"read is not write", []string{"Directory.Read.All"}, []string{"User.Invite.All", "User.ReadWrite.All"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := permissionFindings("b", "app-1", tc.roles, needs)
			var missing []string
			for _, f := range fs {
				if f.Severity == sevError {
					name := strings.Fields(strings.TrimPrefix(f.Message, "missing application permission "))[0]
					missing = append(missing, strings.TrimSuffix(name, ","))
					if !strings.Contains(f.Fix, "app-1") || !strings.Contains(f.Fix, "admin consent") || !strings.Contains(f.Message, "a-to-b") && !strings.Contains(f.Message, "b-to-a") {
						t.Errorf("finding %+v", f)
					}
				}
			}
			if !slices.Equal(missing, tc.missing) {
				t.Fatalf("missing %v, want %v (%+v)", missing, tc.missing, fs)
			}
			if len(tc.missing) == 0 && (len(fs) != 1 || fs[0].Severity != sevOK) {
				t.Fatalf("want one ok: %+v", fs)
			}
		})
	}
	if fs := permissionFindings("c", "app", nil, nil); len(fs) != 1 || fs[0].Severity != sevOK {
		t.Fatalf("unused tenant: %+v", fs)
	}
}

func TestDoctorInvitationsFinding(t *testing.T) {
	for from, sev := range map[string]string{
		"everyone": sevOK, "none": sevError, "adminsAndGuestInviters": sevWarning,
		"adminsGuestInvitersAndAllMembers": sevWarning, "unknownFutureValue": sevWarning,
	} {
		f := invitationsFinding("b", "app", tenants.AuthorizationPolicy{AllowInvitesFrom: from})
		if f.Severity != sev || !strings.Contains(f.Message, from) || (sev != sevOK && f.Fix == "") {
			t.Errorf("%s: %+v", from, f)
		}
	}
}

func TestDoctorCrossTenantFindings(t *testing.T) {
	yes, no := true, false
	all := func(access, target string) *tenants.AccessTargets {
		return &tenants.AccessTargets{Access: access, Targets: []string{target}}
	}
	open := tenants.CrossTenantAccess{Users: all("allowed", "AllUsers"), Applications: all("allowed", "AllApplications"), AutoRedeem: &no}
	cases := []struct {
		name    string
		def     tenants.CrossTenantAccess
		partner *tenants.CrossTenantAccess
		want    []string // severity: message fragment
	}{
		{"partner redeems", open, &tenants.CrossTenantAccess{AutoRedeem: &yes}, []string{"ok: is allowed"}},
		{"no partner", open, nil, []string{"warning: not redeemed automatically"}},
		{"default blocks users", tenants.CrossTenantAccess{Users: all("blocked", "AllUsers"), Applications: open.Applications},
			&tenants.CrossTenantAccess{AutoRedeem: &yes}, []string{"error: blocks all users and groups (default settings)"}},
		{"partner blocks apps", open, &tenants.CrossTenantAccess{Applications: all("blocked", "AllApplications"), AutoRedeem: &yes},
			[]string{"error: blocks all applications (organizational settings for a)"}},
		{"partner allows the default's block away", tenants.CrossTenantAccess{Users: all("blocked", "AllUsers")},
			&tenants.CrossTenantAccess{Users: all("allowed", "AllUsers"), AutoRedeem: &yes}, []string{"ok: is allowed"}},
		{"some users blocked", open, &tenants.CrossTenantAccess{Users: all("blocked", "group-1"), AutoRedeem: &yes},
			[]string{"warning: blocks some users and groups"}},
		{"only some allowed", open, &tenants.CrossTenantAccess{Users: all("allowed", "group-1"), AutoRedeem: &no},
			[]string{"warning: allows only some users and groups", "warning: not redeemed automatically"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := crossTenantFindings("b", "a", "tid-a", tc.def, tc.partner)
			if len(fs) != len(tc.want) {
				t.Fatalf("got %+v, want %v", fs, tc.want)
			}
			for i, w := range tc.want {
				sev, frag, _ := strings.Cut(w, ": ")
				if fs[i].Severity != sev || !strings.Contains(fs[i].Message, frag) || fs[i].Tenant != "b" || (sev != sevOK && fs[i].Fix == "") {
					t.Errorf("finding %d: %+v, want %s", i, fs[i], w)
				}
			}
		})
	}
}

func TestDoctorStampSlotFinding(t *testing.T) {
	cases := []struct {
		scan tenants.SlotScan
		sev  string
		frag string
	}{
		{tenants.SlotScan{Attribute: "extensionAttribute15"}, sevOK, "extensionAttribute15 is unused"},
		{tenants.SlotScan{Attribute: "extensionAttribute15", Scanned: 3, Stamped: 3}, sevOK, "only ctsync stamps (3 users)"},
		{tenants.SlotScan{Attribute: "extensionAttribute7", Scanned: 4, Stamped: 1, Foreign: 3, Example: "x@b.example"}, sevError,
			"3 users of tenant b use extensionAttribute7 for something else (e.g. x@b.example)"},
		{tenants.SlotScan{Attribute: "extensionAttribute7", Scanned: 1000, Foreign: 1000, Example: "x@b.example", Bounded: true}, sevError,
			"(scanned the first 1000 users whose slot is set)"},
	}
	for _, tc := range cases {
		f := stampSlotFinding("b", tc.scan)
		if f.Severity != tc.sev || !strings.Contains(f.Message, tc.frag) || (tc.sev == sevError && !strings.Contains(f.Fix, "stamp_attribute")) {
			t.Errorf("%+v: %+v", tc.scan, f)
		}
	}
}

func TestValidateJSONNeedsOnline(t *testing.T) {
	if code, _, errs := run(t, "validate", "--json", "-c", "../../config.toml"); code != exitUsage || !strings.Contains(errs, "--online") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
