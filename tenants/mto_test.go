package tenants

import (
	"context"
	"testing"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// TestMultiTenantOrganization reads the simulated MTO through the SDK: the
// organisation, its members in every state, another tenant's default
// domain; a 403 without the permission; a tenant in no MTO reads inactive.
func TestMultiTenantOrganization(t *testing.T) {
	s := startSim(t, graphsim.Options{})
	ctx := context.Background()
	const ext = "5036a0a0-a7a4-4933-9086-5dd54535dd6e"
	if err := s.SetMTOMemberState("northwind", graphsim.MTOPending); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMTOMember(ext, "Woodgrove Bank", graphsim.MTORemoved); err != nil {
		t.Fatal(err)
	}
	c := simClient(t, s, "fabrikam", nil)
	org, members, err := c.MultiTenantOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if org.State != MTOActive || org.DisplayName != "Contoso organization" || org.ID == "" || org.Created.IsZero() {
		t.Errorf("MTO %+v", org)
	}
	con, nw := s.Tenant("contoso"), s.Tenant("northwind")
	if len(members) != 4 {
		t.Fatalf("members %+v", members)
	}
	if m := members[0]; m.TenantID != con.ID() || m.Role != MTOOwner || m.State != MTOActive || m.DisplayName != "Contoso" || m.Joined.IsZero() || m.AddedBy != con.ID() {
		t.Errorf("owner %+v", m)
	}
	if m := members[2]; m.TenantID != nw.ID() || m.State != MTOPending || !m.Joined.IsZero() || m.Transition != "" {
		t.Errorf("pending %+v", m)
	}
	if m := members[3]; m.TenantID != ext || m.State != MTORemoved || m.Transition != "removed (running)" {
		t.Errorf("removed %+v", m)
	}
	info, err := c.FindTenantInformation(ctx, nw.ID())
	if err != nil || info.DefaultDomain != "northwind.onmicrosoft.com" || info.DisplayName != "Northwind" || info.TenantID != nw.ID() {
		t.Errorf("tenant information %+v %v", info, err)
	}
	if _, err := c.FindTenantInformation(ctx, ext); !IsNotFound(err) {
		t.Errorf("unknown tenant: %v", err)
	}
	if _, err := c.FindTenantInformation(ctx, "x') or (1 eq 1"); err == nil {
		t.Error("a tenant ID that is not a GUID was sent")
	}

	fab := s.Tenant("fabrikam")
	if err := fab.RevokePermissions(fab.ClientID(), PermReadMTO); err != nil {
		t.Fatal(err)
	}
	if _, _, err := simClient(t, s, "fabrikam", nil).MultiTenantOrganization(ctx); !IsForbidden(err) {
		t.Errorf("without %s: %v", PermReadMTO, err)
	}

	if err := s.RemoveMTOMember("contoso"); err != nil {
		t.Fatal(err)
	}
	org, members, err = simClient(t, s, "contoso", nil).MultiTenantOrganization(ctx)
	if err != nil || org.State != MTOInactive || len(members) != 0 {
		t.Errorf("tenant in no MTO: %+v %v %v", org, members, err)
	}
}
