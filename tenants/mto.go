package tenants

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/tenantrelationships"
)

// This file reads the multi-tenant organisation (MTO) a tenant belongs to,
// for `ctsync init --from-mto` and `ctsync validate --online`.
//
// The typed request builders of the SDK's tenantrelationships sub-package
// are used, not a hand-made abstractions.RequestInformation: the package is
// small (26 files, about 300 KB of source) and imports nothing but the
// models and odataerrors packages this package already compiles. Measured
// with go1.26 on 2 CPUs and an empty build cache: a program importing
// models alone builds in 147-168 s; adding tenantrelationships then costs
// 13.8 s of wall time for that build, of which the compile of the package
// itself is 0.5 s (timed with -toolexec). Writing the requests by hand
// would save a few seconds of a first build at the price of URL templates
// and parsing to maintain. The root msgraphsdk package, which would pull
// in every sub-package, stays out.

// MTO is a multi-tenant organisation as one of its tenants reads it.
type MTO struct {
	// ID is the organisation's object ID in the tenant that read it (each
	// tenant has its own ID for the same organisation).
	ID          string
	DisplayName string
	Description string
	// State is "active", or "inactive" when the tenant is in no
	// multi-tenant organisation (the other fields are then empty).
	State   string
	Created time.Time
}

// MTOMember is one tenant of a multi-tenant organisation.
type MTOMember struct {
	TenantID    string
	DisplayName string
	// Role is "owner" or "member".
	Role string
	// State is "active", "pending" (added, not joined yet) or "removed"
	// (being removed).
	State string
	// AddedBy is the ID of the tenant that added it.
	AddedBy       string
	Added, Joined time.Time // Joined is zero while the tenant has not joined
	// Transition is the change in progress, "" for none: the desired state
	// and the job's status ("removed (running)").
	Transition string
}

// Member states and roles of an MTO.
const (
	MTOActive   = "active"
	MTOInactive = "inactive"
	MTOPending  = "pending"
	MTORemoved  = "removed"
	MTOOwner    = "owner"
)

// PermReadMTO is the application permission that reads the MTO and its
// members (MultiTenantOrganization.ReadWrite.All includes it).
const PermReadMTO = "MultiTenantOrganization.Read.All"

// PermTenantInformation is the application permission of
// findTenantInformationByTenantId.
const PermTenantInformation = "CrossTenantInformation.ReadBasic.All"

// MultiTenantOrganization reads GET /tenantRelationships/multiTenantOrganization
// and, when the tenant is in one, every member of GET
// .../multiTenantOrganization/tenants (application permission
// MultiTenantOrganization.Read.All: members in every state). A tenant in no
// MTO returns State "inactive" and no members.
func (c *Client) MultiTenantOrganization(ctx context.Context) (MTO, []MTOMember, error) {
	var out MTO
	b := tenantrelationships.NewTenantRelationshipsRequestBuilderInternal(map[string]string{}, c.adapter).MultiTenantOrganization()
	err := c.call(ctx, "GET /tenantRelationships/multiTenantOrganization", callOpts{}, func(ctx context.Context) error {
		o, err := b.Get(ctx, nil)
		if err == nil && o != nil {
			out = MTO{ID: deref(o.GetId()), DisplayName: deref(o.GetDisplayName()), Description: deref(o.GetDescription())}
			if s := o.GetState(); s != nil {
				out.State = s.String()
			}
			if t := o.GetCreatedDateTime(); t != nil {
				out.Created = *t
			}
		}
		return err
	})
	if err != nil {
		return MTO{}, nil, err
	}
	if out.State == "" {
		out.State = MTOInactive
	}
	if out.State != MTOActive {
		return out, nil, nil
	}
	var members []MTOMember
	next := ""
	for {
		var resp models.MultiTenantOrganizationMemberCollectionResponseable
		err := c.call(ctx, "GET /tenantRelationships/multiTenantOrganization/tenants", callOpts{}, func(ctx context.Context) error {
			var err error
			if next == "" {
				resp, err = b.Tenants().Get(ctx, nil)
			} else {
				resp, err = tenantrelationships.NewMultiTenantOrganizationTenantsRequestBuilder(next, c.adapter).Get(ctx, nil)
			}
			return err
		})
		if err != nil {
			return MTO{}, nil, err
		}
		if resp == nil {
			return out, members, nil
		}
		for _, m := range resp.GetValue() {
			if m != nil {
				members = append(members, mtoMember(m))
			}
		}
		if next = deref(resp.GetOdataNextLink()); next == "" {
			return out, members, nil
		}
	}
}

func mtoMember(m models.MultiTenantOrganizationMemberable) MTOMember {
	out := MTOMember{TenantID: strings.ToLower(deref(m.GetTenantId())), DisplayName: deref(m.GetDisplayName())}
	if id := m.GetAddedByTenantId(); id != nil {
		out.AddedBy = id.String()
	}
	if r := m.GetRole(); r != nil {
		out.Role = r.String()
	}
	if s := m.GetState(); s != nil {
		out.State = s.String()
	}
	if t := m.GetAddedDateTime(); t != nil {
		out.Added = *t
	}
	if t := m.GetJoinedDateTime(); t != nil {
		out.Joined = *t
	}
	if td := m.GetTransitionDetails(); td != nil && td.GetDesiredState() != nil {
		out.Transition = td.GetDesiredState().String()
		if st := td.GetStatus(); st != nil {
			out.Transition += " (" + st.String() + ")"
		}
	}
	return out
}

// TenantInformation is what any tenant may read of another.
type TenantInformation struct {
	TenantID      string
	DisplayName   string
	DefaultDomain string
}

var tenantIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// FindTenantInformation reads GET
// /tenantRelationships/findTenantInformationByTenantId(tenantId='{id}')
// (application permission CrossTenantInformation.ReadBasic.All): another
// tenant's name and default domain. tenantID must be a GUID.
func (c *Client) FindTenantInformation(ctx context.Context, tenantID string) (TenantInformation, error) {
	if !tenantIDRE.MatchString(tenantID) {
		return TenantInformation{}, fmt.Errorf("tenant %q: %q is not a tenant ID (a GUID)", c.cfg.Name, tenantID)
	}
	var out TenantInformation
	b := tenantrelationships.NewTenantRelationshipsRequestBuilderInternal(map[string]string{}, c.adapter).
		FindTenantInformationByTenantIdWithTenantId(&tenantID)
	err := c.call(ctx, "GET /tenantRelationships/findTenantInformationByTenantId", callOpts{}, func(ctx context.Context) error {
		ti, err := b.Get(ctx, nil)
		if err == nil && ti != nil {
			out = TenantInformation{TenantID: strings.ToLower(deref(ti.GetTenantId())), DisplayName: deref(ti.GetDisplayName()),
				DefaultDomain: strings.ToLower(deref(ti.GetDefaultDomainName()))}
		}
		return err
	})
	return out, err
}
