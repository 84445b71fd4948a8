package tenants

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/policies"
)

// This file reads what `ctsync validate --online` checks before a first
// sync: the sign-in and the permissions it proves, the target's policies
// that decide whether invitations can work, and who else uses the stamp
// slot. Everything returns plain values; deciding what is wrong is the
// caller's.

// Token is what a sign-in proved, read from the access token.
type Token struct {
	// Roles are the application permissions granted to the app in the
	// tenant with admin consent (the token's roles claim), sorted.
	Roles []string
	// AppID and TenantID are the token's appid and tid claims.
	AppID, TenantID string
	// ExpiresOn is when the token expires.
	ExpiresOn time.Time
	// Decoded is false when the token's payload could not be read (Entra
	// documents access tokens as opaque to clients): Roles is then
	// unknown, not empty.
	Decoded bool
}

// SignIn gets a Graph token for cfg's tenant through its configured
// credential, exactly as New's clients do (the same credential, scope and
// transport), and reads the granted permissions from it. A refusal is a
// *CredentialError (see DescribeCredentialFailure); the token itself is
// never returned.
func SignIn(ctx context.Context, cfg Config, opts Options) (Token, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return Token{}, err
	}
	base := opts.Transport
	if base == nil {
		t, err := newTransport(cfg.CAFile)
		if err != nil {
			return Token{}, fmt.Errorf("tenant %q: %w", cfg.Name, err)
		}
		base = t
	}
	var cred azcore.TokenCredential
	if opts.Credential != nil {
		cred = &namedCredential{inner: opts.Credential, tenant: cfg.Name, kind: cfg.Credential}
	} else {
		var err error
		if cred, err = newCredential(&cfg, &http.Client{Transport: base}); err != nil {
			return Token{}, err
		}
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{cfg.scope()}})
	if err != nil {
		return Token{}, err
	}
	out := Token{ExpiresOn: tok.ExpiresOn}
	if c, ok := tokenClaims(tok.Token); ok {
		out.Decoded = true
		out.Roles = slices.Sorted(slices.Values(c.Roles))
		out.AppID, out.TenantID = c.AppID, c.Tid
	}
	return out, nil
}

type accessTokenClaims struct {
	Roles []string `json:"roles"`
	AppID string   `json:"appid"`
	Tid   string   `json:"tid"`
}

// tokenClaims decodes a JWT access token's payload (base64url JSON). The
// signature is not checked, on purpose: this is a diagnosis of what Entra
// granted, read from a token ctsync just received from the authority over
// TLS, never an authorization decision. Graph checks the token itself.
func tokenClaims(token string) (accessTokenClaims, bool) {
	var c accessTokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, false
	}
	return c, json.Unmarshal(raw, &c) == nil
}

// CredentialFailure is a sign-in failure in a few words, for people: never
// a secret, a token or a header.
type CredentialFailure struct {
	// Tenant and Kind name the tenant and its credential kind.
	Tenant, Kind string
	// Status is the authority's HTTP status; 0 when it did not answer.
	Status int
	// OAuthError is the OAuth error code ("invalid_client").
	OAuthError string
	// Code is the AADSTS number (7000215); 0 when there is none (a secret
	// file that cannot be read, no answer at all).
	Code int
	// Description is the first sentence of Entra's description, without
	// the AADSTS prefix and the trace and correlation IDs; or the cause's
	// first line when Entra did not answer.
	Description string
	// Transient is true when the authority failed in a way that passes
	// (5xx, 429, temporarily_unavailable, no answer).
	Transient bool
}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

// DescribeCredentialFailure condenses a sign-in failure (a
// *CredentialError, possibly inside a *GraphError); false when err is not
// one.
func DescribeCredentialFailure(err error) (CredentialFailure, bool) {
	var ce *CredentialError
	if !errors.As(err, &ce) {
		return CredentialFailure{}, false
	}
	f := CredentialFailure{Tenant: ce.Tenant, Kind: ce.Kind, Transient: ce.transient}
	desc := ""
	var afe *azidentity.AuthenticationFailedError
	if errors.As(ce.Err, &afe) && afe.RawResponse != nil {
		f.Status = afe.RawResponse.StatusCode
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Codes       []int  `json:"error_codes"`
		}
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil && json.Unmarshal(body, &oe) == nil {
			f.OAuthError, desc = oe.Error, oe.Description
			if len(oe.Codes) > 0 {
				f.Code = oe.Codes[0]
			}
		}
	}
	if desc == "" {
		desc = credentialCause(ce.Err)
	}
	if f.Code == 0 {
		if m := aadstsRE.FindStringSubmatch(desc); m != nil {
			f.Code, _ = strconv.Atoi(m[1])
		} else if m := aadstsRE.FindStringSubmatch(safeErrorText(ce.Err)); m != nil {
			f.Code, _ = strconv.Atoi(m[1])
		}
	}
	f.Description = firstSentence(desc)
	return f, true
}

// firstSentence cuts an Entra description to its first sentence: after
// the "AADSTSnnn: " prefix, up to the first ". " (IDs and domains inside a
// sentence have no space after their dots), trace IDs dropped.
func firstSentence(s string) string {
	s, _, _ = strings.Cut(s, " Trace ID:")
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", ""))
	if m := aadstsRE.FindStringIndex(s); m != nil && m[0] == 0 {
		s = strings.TrimSpace(strings.TrimPrefix(s[m[1]:], ":"))
	}
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	return firstLine(s)
}

// AuthorizationPolicy is the part of the tenant's authorization policy
// that decides who may invite guests.
type AuthorizationPolicy struct {
	// AllowInvitesFrom is none, adminsAndGuestInviters,
	// adminsGuestInvitersAndAllMembers or everyone.
	AllowInvitesFrom string
}

// AuthorizationPolicy reads GET /policies/authorizationPolicy
// (application permission Policy.Read.All).
func (c *Client) AuthorizationPolicy(ctx context.Context) (AuthorizationPolicy, error) {
	var out AuthorizationPolicy
	err := c.call(ctx, "GET /policies/authorizationPolicy", callOpts{}, func(ctx context.Context) error {
		p, err := c.policiesBuilder().AuthorizationPolicy().Get(ctx, nil)
		if err == nil && p != nil && p.GetAllowInvitesFrom() != nil {
			out.AllowInvitesFrom = p.GetAllowInvitesFrom().String()
		}
		return err
	})
	return out, err
}

// CrossTenantAccess is the inbound B2B collaboration part of a cross-tenant
// access configuration (the default one, or a partner's).
type CrossTenantAccess struct {
	// Users and Applications are b2bCollaborationInbound's usersAndGroups
	// and applications; nil when null (a partner's null inherits the
	// default's).
	Users, Applications *AccessTargets
	// AutoRedeem is automaticUserConsentSettings.inboundAllowed: guests
	// invited from that tenant are redeemed automatically. nil when null
	// (a partner's inherits the default's, which Graph keeps false).
	AutoRedeem *bool
}

// AccessTargets is a crossTenantAccessPolicyTargetConfiguration.
type AccessTargets struct {
	// Access is "allowed" or "blocked".
	Access string
	// Targets are the targets' IDs: "AllUsers", "AllApplications", or
	// user, group and application IDs.
	Targets []string
}

// CrossTenantDefault reads GET /policies/crossTenantAccessPolicy/default
// (application permission Policy.Read.All).
func (c *Client) CrossTenantDefault(ctx context.Context) (CrossTenantAccess, error) {
	var out CrossTenantAccess
	err := c.call(ctx, "GET /policies/crossTenantAccessPolicy/default", callOpts{}, func(ctx context.Context) error {
		d, err := c.policiesBuilder().CrossTenantAccessPolicy().DefaultEscaped().Get(ctx, nil)
		if err == nil && d != nil {
			out = crossTenantAccess(d.GetB2bCollaborationInbound(), d.GetAutomaticUserConsentSettings())
		}
		return err
	})
	return out, err
}

// CrossTenantPartner reads GET
// /policies/crossTenantAccessPolicy/partners/{tenantId} (application
// permission Policy.Read.All); nil, nil when the tenant has no partner
// configuration for tenantID (404: the default applies).
func (c *Client) CrossTenantPartner(ctx context.Context, tenantID string) (*CrossTenantAccess, error) {
	var out *CrossTenantAccess
	err := c.call(ctx, "GET /policies/crossTenantAccessPolicy/partners/{id}", callOpts{}, func(ctx context.Context) error {
		p, err := c.policiesBuilder().CrossTenantAccessPolicy().Partners().
			ByCrossTenantAccessPolicyConfigurationPartnerTenantId(tenantID).Get(ctx, nil)
		if err == nil && p != nil {
			cta := crossTenantAccess(p.GetB2bCollaborationInbound(), p.GetAutomaticUserConsentSettings())
			out = &cta
		}
		return err
	})
	if IsNotFound(err) {
		return nil, nil
	}
	return out, err
}

func (c *Client) policiesBuilder() *policies.PoliciesRequestBuilder {
	return policies.NewPoliciesRequestBuilderInternal(map[string]string{}, c.adapter)
}

func crossTenantAccess(in models.CrossTenantAccessPolicyB2BSettingable, consent models.InboundOutboundPolicyConfigurationable) CrossTenantAccess {
	var out CrossTenantAccess
	if in != nil {
		out.Users = accessTargets(in.GetUsersAndGroups())
		out.Applications = accessTargets(in.GetApplications())
	}
	if consent != nil {
		out.AutoRedeem = consent.GetInboundAllowed()
	}
	return out
}

func accessTargets(t models.CrossTenantAccessPolicyTargetConfigurationable) *AccessTargets {
	if t == nil || t.GetAccessType() == nil {
		return nil
	}
	out := &AccessTargets{Access: t.GetAccessType().String()}
	for _, x := range t.GetTargets() {
		if x != nil {
			out.Targets = append(out.Targets, deref(x.GetTarget()))
		}
	}
	return out
}

// SlotScan is what ScanStampSlot found in the stamp slot.
type SlotScan struct {
	// Attribute is the slot, e.g. extensionAttribute15.
	Attribute string
	// Scanned is how many users with the slot set were read.
	Scanned int
	// Stamped of them hold a ctsync stamp; Foreign hold something else.
	Stamped, Foreign int
	// Example is the UPN of one user holding something else.
	Example string
	// Bounded is true when the scan stopped at its bound with more users
	// possibly left unread.
	Bounded bool
}

var errScanBound = errors.New("scan bound reached")

// ScanStampSlot reads the users whose stamp slot is set (an advanced query,
// as Stamped) and counts the values that are not ctsync stamps: another
// tool using the slot. It stops after the page that reaches max users (a
// page is up to Config.PageSize users), so a large tenant costs a request
// or two; the answer comes from Graph's lagging index.
func (t *Target) ScanStampSlot(ctx context.Context, max int) (SlotScan, error) {
	attr := t.c.cfg.StampAttribute
	out := SlotScan{Attribute: attr}
	err := t.list(ctx, "GET /users?$filter=slot", t.stampPath()+" ne null", true, everyone, func(us []directory.User) error {
		for _, u := range us {
			out.Scanned++
			if strings.HasPrefix(u.Str(attr), directory.StampPrefix) {
				out.Stamped++
				continue
			}
			out.Foreign++
			if out.Example == "" {
				out.Example = u.Str(directory.PropUPN)
			}
		}
		if out.Scanned >= max {
			return errScanBound
		}
		return nil
	})
	if errors.Is(err, errScanBound) {
		out.Bounded, err = true, nil
	}
	return out, err
}
