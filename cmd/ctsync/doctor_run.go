package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants"
)

// slotScanBound bounds the stamp slot scan: about one page of users.
const slotScanBound = 1000

// runOnlineChecks is `ctsync validate --online`: every tenant is checked
// at once, each finding printed on one line with its fix, then a summary.
// Exit 1 when any finding is an error.
func runOnlineChecks(ctx context.Context, e *env, cfg *config.Config, timeout time.Duration, asJSON bool) int {
	needs, err := permissionNeeds(cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make([][]finding, len(cfg.Tenants))
	var wg sync.WaitGroup
	for i, t := range cfg.Tenants {
		where := cfg.File
		if n := cfg.Line(fmt.Sprintf("tenant[%d].name", i)); n > 0 {
			where = fmt.Sprintf("%s:%d", cfg.File, n)
		}
		wg.Go(func() { results[i] = checkTenant(ctx, cfg, t, where, needs[t.Name]) })
	}
	wg.Wait()
	var all []finding
	for _, r := range results {
		all = append(all, r...)
	}
	all = append(all, checkMTOAgreement(ctx, cfg, results)...)
	if asJSON {
		doc := struct {
			Version  int       `json:"version"`
			Findings []finding `json:"findings"`
		}{1, all}
		if doc.Findings == nil {
			doc.Findings = []finding{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitUsage
		}
	} else {
		printFindings(e.stdout, cfg, all)
	}
	for _, f := range all {
		if f.Severity == sevError {
			return exitFailures
		}
	}
	return exitOK
}

// printFindings writes one line per finding, then the summary.
func printFindings(w io.Writer, cfg *config.Config, all []finding) {
	count := map[string]int{}
	for _, f := range all {
		count[f.Severity]++
		line := fmt.Sprintf("%-7s %s %s: %s", f.Severity, f.Tenant, f.Check, f.Message)
		if f.Fix != "" {
			line += "; fix: " + f.Fix
		}
		fmt.Fprintln(w, line)
	}
	verdict := "nothing wrong"
	if count[sevError] > 0 {
		verdict = "ctsync will fail until the errors are fixed"
	}
	fmt.Fprintf(w, "%s: online checks of %d tenants: %d ok, %d warnings, %d errors: %s\n",
		cfg.File, len(cfg.Tenants), count[sevOK], count[sevWarning], count[sevError], verdict)
}

// checkTenant runs every online check of one tenant. A failed sign-in is
// the one finding: nothing else can be read.
func checkTenant(ctx context.Context, cfg *config.Config, t config.Tenant, where string, needs map[string]*permNeed) []finding {
	tc := app.TenantConfig(t)
	// A diagnosis answers quickly: a few tries, not a sync's patience.
	tc.Retry.MaxAttempts = 3
	tok, err := tenants.SignIn(ctx, tc, tenants.Options{})
	if err != nil {
		f, ok := tenants.DescribeCredentialFailure(err)
		if !ok {
			f = tenants.CredentialFailure{Tenant: t.Name, Kind: t.Credential, Description: err.Error()}
		}
		return []finding{signInFinding(t.Name, where, credentialSource(t), f)}
	}
	out := []finding{{Tenant: t.Name, Check: checkSignIn, Severity: sevOK,
		Message: fmt.Sprintf("signed in with %s as app %s", t.Credential, t.ClientID)}}
	if tok.Decoded {
		out = append(out, permissionFindings(t.Name, t.ClientID, tok.Roles, needs)...)
	} else {
		out = append(out, finding{Tenant: t.Name, Check: checkPermissions, Severity: sevWarning,
			Message: "not checked: the access token could not be decoded to read its roles",
			Fix:     "compare the app's API permissions with `ctsync validate`'s list by hand"})
	}
	var sources []config.Tenant
	for _, p := range cfg.Pairs {
		if !p.Disabled && p.Target == t.Name {
			if s := cfg.Tenant(p.Source); s != nil {
				sources = append(sources, *s)
			}
		}
	}
	if len(sources) == 0 {
		return out // only a source: invitations and the stamp slot are a target's
	}
	c, err := tenants.New(tc, tenants.Options{Pacers: &tenants.Pacers{}})
	if err != nil {
		return append(out, finding{Tenant: t.Name, Check: checkSignIn, Severity: sevError, Message: err.Error()})
	}
	out = append(out, policyFindings(ctx, c, t, tok, sources)...)
	out = append(out, slotFindings(ctx, c, t))
	return out
}

// policyFindings reads and judges the target's invitation settings, or
// says why they were not read.
func policyFindings(ctx context.Context, c *tenants.Client, t config.Tenant, tok tenants.Token, sources []config.Tenant) []finding {
	var out []finding
	readable := func(write string) bool {
		return !tok.Decoded || holds(tok.Roles, permPolicyRead) || holds(tok.Roles, write)
	}
	failed := func(check, what string, err error) finding {
		if tenants.IsForbidden(err) {
			return policySkipped(t.Name, check, what, t.ClientID)
		}
		return finding{Tenant: t.Name, Check: check, Severity: sevError,
			Message: "could not read " + what + ": " + graphSummary(err),
			Fix:     "check the network path to graph_base_url and try again"}
	}
	const authz = "the guest invite settings (authorizationPolicy)"
	if !readable("Policy.ReadWrite.Authorization") {
		out = append(out, policySkipped(t.Name, checkInvitations, authz, t.ClientID))
	} else if ap, err := c.AuthorizationPolicy(ctx); err != nil {
		out = append(out, failed(checkInvitations, authz, err))
	} else {
		out = append(out, invitationsFinding(t.Name, t.ClientID, ap))
	}
	const cta = "the cross-tenant access settings"
	if !readable("Policy.ReadWrite.CrossTenantAccess") {
		return append(out, policySkipped(t.Name, checkCrossTenant, cta, t.ClientID))
	}
	def, err := c.CrossTenantDefault(ctx)
	if err != nil {
		return append(out, failed(checkCrossTenant, cta, err))
	}
	seen := map[string]bool{}
	for _, s := range sources {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		partner, err := c.CrossTenantPartner(ctx, s.TenantID)
		if err != nil {
			out = append(out, failed(checkCrossTenant, cta+" for "+s.Name, err))
			continue
		}
		out = append(out, crossTenantFindings(t.Name, s.Name, s.TenantID, def, partner)...)
	}
	return out
}

// slotFindings scans and judges the target's stamp slot.
func slotFindings(ctx context.Context, c *tenants.Client, t config.Tenant) finding {
	scan, err := c.Target().ScanStampSlot(ctx, slotScanBound)
	if err == nil {
		return stampSlotFinding(t.Name, scan)
	}
	if tenants.IsForbidden(err) {
		return finding{Tenant: t.Name, Check: checkStampSlot, Severity: sevWarning,
			Message: "not checked: the app may not read users (see the permissions above)"}
	}
	return finding{Tenant: t.Name, Check: checkStampSlot, Severity: sevError,
		Message: "could not read the users holding " + c.Target().StampAttribute() + ": " + graphSummary(err),
		Fix:     "check the network path to graph_base_url and try again"}
}

// graphSummary is an error's one-line summary.
func graphSummary(err error) string {
	var ge *tenants.GraphError
	if errors.As(err, &ge) {
		return ge.Summary()
	}
	return err.Error()
}

// credentialSource names where a tenant's credential comes from, never
// its value.
func credentialSource(t config.Tenant) string {
	switch {
	case t.ClientSecretFile != "":
		return "client_secret_file " + t.ClientSecretFile
	case t.ClientSecretEnv != "":
		return "the variable client_secret_env names (" + t.ClientSecretEnv + ")"
	case t.CertificateFile != "":
		return "certificate_file " + t.CertificateFile
	}
	return "credential " + t.Credential
}

// checkMTOAgreement reads the multi-tenant organisation from the first
// tenant that signed in and may read it, and compares it with the
// configured tenants (mtoFindings). When no tenant's app holds the
// permission, one warning says so; when no tenant signed in, nothing is
// said (the sign-in errors say it all).
func checkMTOAgreement(ctx context.Context, cfg *config.Config, results [][]finding) []finding {
	tens := make([]mtoTenant, len(cfg.Tenants))
	for i, t := range cfg.Tenants {
		tens[i] = mtoTenant{name: t.Name, id: t.TenantID}
	}
	var forbidden []string
	for i, t := range cfg.Tenants {
		if !signedIn(results[i]) {
			continue
		}
		tc := app.TenantConfig(t)
		tc.Retry.MaxAttempts = 3
		c, err := tenants.New(tc, tenants.Options{Pacers: &tenants.Pacers{}})
		if err != nil {
			continue
		}
		org, members, err := c.MultiTenantOrganization(ctx)
		switch {
		case tenants.IsForbidden(err):
			forbidden = append(forbidden, t.Name)
			continue
		case err != nil:
			return []finding{{Tenant: t.Name, Check: checkMTO, Severity: sevWarning,
				Message: "not checked: could not read the multi-tenant organisation: " + graphSummary(err),
				Fix:     "check the network path to graph_base_url and try again"}}
		}
		return mtoFindings(t.Name, tens, org, members)
	}
	if len(forbidden) > 0 {
		return []finding{mtoSkipped(forbidden)}
	}
	return nil
}

// signedIn reports whether a tenant's findings hold a successful sign-in.
func signedIn(fs []finding) bool {
	for _, f := range fs {
		if f.Check == checkSignIn {
			return f.Severity == sevOK
		}
	}
	return false
}
