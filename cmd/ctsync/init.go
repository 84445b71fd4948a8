package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/ctsync/ctsync/internal/app"
	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/internal/textsafe"
	"github.com/ctsync/ctsync/tenants"
)

// This file is `ctsync init --from-mto`: sign in to one tenant, read the
// multi-tenant organisation (MTO) it belongs to, and write a commented
// configuration for the full mesh of its active member tenants. Reading
// (readMTO) is apart from writing (renderMTOConfig, pure), which
// init_test.go tests on its own.
//
// The simulator and sovereign clouds are reached as every other command
// reaches them: the tenant keys authority_host, graph_base_url and ca_file,
// given here as flags of the same names. They sign in to the one tenant
// and are copied into every tenant of the file written, since all tenants
// of an MTO live in the same cloud.

func init() {
	register(&command{
		name:    "init",
		summary: "write a configuration for the full mesh of a multi-tenant organisation's tenants, read from Graph",
		usage: "--from-mto --tenant-id ID --client-id ID (--client-secret-file F | --client-secret-env VAR | --certificate F) " +
			"[--out config.toml] [--force] [--authority-host URL --graph-base-url URL --ca-file F]",
		long: "init signs in to one tenant of the multi-tenant organisation (MTO) with the credential given, reads the MTO and its " +
			"member tenants (application permission MultiTenantOrganization.Read.All; CrossTenantInformation.ReadBasic.All for the " +
			"other tenants' domains), and writes a commented configuration: every active member tenant with its ID, name and default " +
			"domain, a pair for every ordered pair of them, the embedded store. The tenant signed in to keeps the credential given; " +
			"the others get placeholders marked TODO. Pending and removed members are listed in comments, not configured. " +
			"An existing file is never overwritten without --force. " +
			"Exit 0 written, 1 the MTO could not be read (or has fewer than two active tenants), 2 usage.",
		example: `  # Read the MTO as tenant 1111... and write the mesh's configuration
  ctsync init --from-mto --tenant-id 11111111-1111-4111-8111-111111111111 \
    --client-id aaaaaaaa-0000-4000-8000-000000000001 --client-secret-file /run/secrets/ctsync-contoso --out config.toml

  # Against the simulator (ctsync sim --write-info info.json has the endpoints and credentials)
  ctsync init --from-mto --tenant-id TENANT --client-id CLIENT --client-secret-file /tmp/sim/contoso.secret \
    --authority-host https://127.0.0.1:8443 --graph-base-url https://127.0.0.1:8443/v1.0 --ca-file /tmp/sim/ca.pem --out /tmp/sim/mto.toml`,
		flags: runInit,
	})
}

// initOpts are init's flags.
type initOpts struct {
	fromMTO                             bool
	tenantID, clientID                  string
	secretFile, secretEnv               string
	certificate, certPasswordEnv        string
	authorityHost, graphBaseURL, caFile string
	out, storePath, secretsDir          string
	force                               bool
	timeout                             time.Duration
}

func runInit(fs *pflag.FlagSet) runFunc {
	o := &initOpts{}
	fs.BoolVar(&o.fromMTO, "from-mto", false, "read the tenants from the multi-tenant organisation the signed-in tenant belongs to (required)")
	fs.StringVar(&o.tenantID, "tenant-id", "", "the `ID` (GUID) of the tenant to sign in to: any active member of the MTO")
	fs.StringVar(&o.clientID, "client-id", "", "the application (client) `ID` ctsync signs in as")
	fs.StringVar(&o.secretFile, "client-secret-file", "", "`file` holding the app's client secret")
	fs.StringVar(&o.secretEnv, "client-secret-env", "", "environment `variable` holding the app's client secret")
	fs.StringVar(&o.certificate, "certificate", "", "PEM or PFX `file` with the app's certificate and private key")
	fs.StringVar(&o.certPasswordEnv, "certificate-password-env", "", "environment `variable` holding the certificate's password")
	fs.StringVar(&o.authorityHost, "authority-host", "", "Entra authority `URL` (sovereign clouds, the simulator); written into every tenant")
	fs.StringVar(&o.graphBaseURL, "graph-base-url", "", "Microsoft Graph base `URL`, version included; written into every tenant")
	fs.StringVar(&o.caFile, "ca-file", "", "extra CA bundle (`file`) to trust (the simulator's); written into every tenant")
	fs.StringVarP(&o.out, "out", "o", "config.toml", "`file` to write; - for stdout")
	fs.BoolVar(&o.force, "force", false, "overwrite the file if it exists")
	fs.StringVar(&o.storePath, "store-path", "/var/lib/ctsync/state.db", "the embedded store's `file`, written as store.path")
	fs.StringVar(&o.secretsDir, "secrets-dir", "/etc/ctsync/secrets", "`directory` of the placeholder secret files of the tenants not signed in to")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up reading Graph after this long")
	return func(ctx context.Context, e *env, _ []string) int {
		tc, err := o.check()
		if err != nil {
			e.errorf("init: %v", err)
			return exitUsage
		}
		if o.out != "-" && !o.force {
			if _, err := os.Stat(o.out); err == nil {
				e.errorf("init: --out %s: the file exists; give --force to overwrite it", o.out)
				return exitUsage
			}
		}
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		read, err := readMTO(ctx, tc)
		if err != nil {
			e.errorf("init: %v", err)
			return exitFailures
		}
		for _, w := range read.warnings {
			e.logger().Warn(w)
		}
		text, tenantsN, pairsN, err := renderMTOConfig(read, o, time.Now())
		if err != nil {
			e.errorf("init: %v", err)
			return exitFailures
		}
		if err := writeNewFile(o.out, text, o.force, e.stdout); err != nil {
			e.errorf("init: --out %s: %v", o.out, err)
			return exitFailures
		}
		if o.out != "-" {
			fmt.Fprintf(e.stdout, "%s: %d tenants, %d pairs from the multi-tenant organisation \"%s\"; fill in the TODOs (credentials), then run ctsync validate %s\n",
				o.out, tenantsN, pairsN, textsafe.Escape(read.org.DisplayName), o.out)
		}
		return exitOK
	}
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// check validates the flags and returns the signed-in tenant's
// configuration; every error names the flag at fault.
func (o *initOpts) check() (tenants.Config, error) {
	if !o.fromMTO {
		return tenants.Config{}, errors.New("--from-mto is required (the multi-tenant organisation is the only source init reads for now)")
	}
	if o.tenantID == "" {
		return tenants.Config{}, errors.New("--tenant-id is required: the ID of the tenant to sign in to")
	}
	if !guidRE.MatchString(o.tenantID) {
		return tenants.Config{}, fmt.Errorf("--tenant-id %q is not a tenant ID (a GUID)", cut(o.tenantID))
	}
	if o.clientID == "" {
		return tenants.Config{}, errors.New("--client-id is required: the application (client) ID ctsync signs in as")
	}
	if !guidRE.MatchString(o.clientID) {
		return tenants.Config{}, fmt.Errorf("--client-id %q is not an application ID (a GUID)", cut(o.clientID))
	}
	n := 0
	for _, v := range []string{o.secretFile, o.secretEnv, o.certificate} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return tenants.Config{}, errors.New("give exactly one of --client-secret-file, --client-secret-env or --certificate")
	}
	if o.certPasswordEnv != "" && o.certificate == "" {
		return tenants.Config{}, errors.New("--certificate-password-env needs --certificate")
	}
	if o.secretEnv != "" {
		if v, ok := os.LookupEnv(o.secretEnv); !ok || v == "" {
			// The value is never shown: it may be the secret, pasted in the wrong flag.
			return tenants.Config{}, errors.New("--client-secret-env: the variable it names is unset or empty (give the variable's name, not the secret)")
		}
	}
	for _, f := range []struct{ name, value string }{{"authority-host", o.authorityHost}, {"graph-base-url", o.graphBaseURL}} {
		if f.value != "" && !strings.HasPrefix(f.value, "https://") {
			return tenants.Config{}, fmt.Errorf("--%s %q: want an https:// URL", f.name, cut(f.value))
		}
	}
	if o.storePath == "" || strings.Contains(o.storePath, "://") {
		return tenants.Config{}, fmt.Errorf("--store-path %q: want a file path", cut(o.storePath))
	}
	if o.secretsDir == "" {
		return tenants.Config{}, errors.New("--secrets-dir is empty")
	}
	// The file written may be read from another directory: its paths are absolute.
	for _, p := range []*string{&o.secretFile, &o.certificate, &o.caFile, &o.storePath, &o.secretsDir} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return tenants.Config{}, err
			}
			*p = abs
		}
	}
	t := o.tenant("signed-in", o.tenantID)
	tc := app.TenantConfig(t)
	tc.Retry.MaxAttempts = 3 // set-up answers quickly
	return tc, nil
}

// cut shortens a bad value for an error message.
func cut(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return textsafe.Escape(s)
}

// tenant is the signed-in tenant's configuration as the flags give it.
func (o *initOpts) tenant(name, id string) config.Tenant {
	t := config.Tenant{Name: name, TenantID: id, ClientID: o.clientID,
		AuthorityHost: o.authorityHost, GraphBaseURL: o.graphBaseURL, CAFile: o.caFile}
	switch {
	case o.certificate != "":
		t.Credential, t.CertificateFile, t.CertificatePasswordEnv = config.CredClientCertificate, o.certificate, o.certPasswordEnv
	case o.secretEnv != "":
		t.Credential, t.ClientSecretEnv = config.CredClientSecret, o.secretEnv
	default:
		t.Credential, t.ClientSecretFile = config.CredClientSecret, o.secretFile
	}
	return t
}

// mtoRead is what init read from Graph.
type mtoRead struct {
	signedIn tenants.Config
	org      tenants.MTO
	members  []tenants.MTOMember
	// domains are the default domains by tenant ID (missing: not read).
	domains map[string]string
	// verified are the signed-in tenant's verified domains.
	verified []string
	warnings []string
}

// readMTO signs in to the tenant and reads the MTO, its members, their
// default domains and the signed-in tenant's verified domains.
func readMTO(ctx context.Context, tc tenants.Config) (*mtoRead, error) {
	c, err := tenants.New(tc, tenants.Options{Pacers: &tenants.Pacers{}})
	if err != nil {
		return nil, err
	}
	r := &mtoRead{signedIn: tc, domains: map[string]string{}}
	r.org, r.members, err = c.MultiTenantOrganization(ctx)
	switch {
	case tenants.IsForbidden(err):
		return nil, fmt.Errorf("tenant %s: reading the multi-tenant organisation needs the application permission %s: in that tenant, add it to app %s (API permissions) and grant admin consent",
			tc.TenantID, tenants.PermReadMTO, tc.ClientID)
	case err != nil:
		if f, ok := tenants.DescribeCredentialFailure(err); ok {
			return nil, fmt.Errorf("tenant %s: sign-in failed: AADSTS%d %s (`ctsync validate --online` explains the codes)", tc.TenantID, f.Code, textsafe.Escape(f.Description))
		}
		return nil, fmt.Errorf("read the multi-tenant organisation: %s", graphSummary(err))
	case r.org.State != tenants.MTOActive:
		return nil, fmt.Errorf("tenant %s is in no multi-tenant organisation (state %s): create or join one in Entra (Cross-tenant synchronization > Multitenant organization) first",
			tc.TenantID, textsafe.Escape(r.org.State))
	}
	for _, m := range r.members {
		if m.State != tenants.MTOActive || !guidRE.MatchString(m.TenantID) {
			continue
		}
		info, err := c.FindTenantInformation(ctx, m.TenantID)
		switch {
		case tenants.IsForbidden(err):
			r.warnings = append(r.warnings, fmt.Sprintf("the tenants' domains are left to fill in: reading them needs the application permission %s for app %s in tenant %s",
				tenants.PermTenantInformation, tc.ClientID, tc.TenantID))
			return r, r.readVerified(ctx, c)
		case err != nil:
			r.warnings = append(r.warnings, fmt.Sprintf("tenant %s: default domain not read: %s", m.TenantID, graphSummary(err)))
		default:
			r.domains[m.TenantID] = info.DefaultDomain
		}
	}
	return r, r.readVerified(ctx, c)
}

// readVerified lists the signed-in tenant's verified domains, for a
// comment; a refusal (no Domain.Read.All) only leaves them out.
func (r *mtoRead) readVerified(ctx context.Context, c *tenants.Client) error {
	ds, err := c.Source().Domains(ctx)
	if err == nil {
		r.verified = ds
	}
	return nil
}

var domainNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// maxTenantName keeps "NAME-to-NAME" pair names within the 63 bytes a
// name may have, a "-NN" suffix for duplicates included.
const maxTenantName = 26

// tenantName makes a configuration name (lower-case letters, digits, '-')
// from a tenant's display name; taken holds the names already given.
func tenantName(display, id string, taken map[string]bool) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(display) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > maxTenantName {
		name = strings.TrimRight(name[:maxTenantName], "-")
	}
	if name == "" {
		name = "tenant-" + strings.ToLower(id[:8])
	}
	base := name
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	taken[name] = true
	return name
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// comment makes directory text safe inside a one-line TOML comment.
func comment(s string) string { return textsafe.Escape(s) }

// renderMTOConfig writes the configuration for the active members of the
// MTO read; it returns the TOML and how many tenants and pairs it holds.
func renderMTOConfig(r *mtoRead, o *initOpts, now time.Time) (string, int, int, error) {
	type ten struct {
		m      tenants.MTOMember
		name   string
		domain string
	}
	var active []ten
	var others []tenants.MTOMember
	taken := map[string]bool{}
	for _, m := range r.members {
		if m.State != tenants.MTOActive || !guidRE.MatchString(m.TenantID) {
			others = append(others, m)
			continue
		}
		active = append(active, ten{m: m, name: tenantName(m.DisplayName, m.TenantID, taken), domain: r.domains[m.TenantID]})
	}
	if len(active) < 2 {
		return "", 0, 0, fmt.Errorf("the multi-tenant organisation \"%s\" has %d active tenants: a mesh needs two or more", textsafe.Escape(r.org.DisplayName), len(active))
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# ctsync configuration: the full mesh of the multi-tenant organisation \"%s\".\n", comment(r.org.DisplayName))
	p("#\n# Written by `ctsync init --from-mto` at %s, signed in to tenant %s as app %s,\n",
		now.UTC().Format(time.RFC3339), r.signedIn.TenantID, r.signedIn.ClientID)
	p("# from GET /tenantRelationships/multiTenantOrganization (id %s) and its tenants.\n", comment(r.org.ID))
	if r.org.Description != "" {
		p("# Its description: %s\n", comment(r.org.Description))
	}
	p("# Each of the %d active tenants syncs its internal members into each other one: %d pairs.\n", len(active), len(active)*(len(active)-1))
	p("#\n# Before the first sync:\n")
	p("#   1. TODO: each tenant marked TODO needs a credential: its app's client ID and secret (or\n")
	p("#      certificate), as its comments say. Secrets stay in files or variables, never here.\n")
	p("#   2. ctsync validate FILE             (this file, and the permissions each app needs)\n")
	p("#      ctsync validate --online FILE    (signs in to every tenant and checks it)\n")
	p("#   3. ctsync plan -c FILE              (what the first cycle would do, writing nothing)\n")
	if len(others) > 0 {
		p("#\n# Members of the organisation not configured (not active):\n")
		for _, m := range others {
			line := fmt.Sprintf("#   - %s (%s): %s", comment(m.DisplayName), comment(m.TenantID), comment(m.State))
			if m.Transition != "" {
				line += ", in transition to " + comment(m.Transition)
			}
			if m.State == tenants.MTOPending {
				line += ": added, not joined yet; run init again once it has joined"
			}
			p("%s\n", line)
		}
	}
	p("\n[store]\n")
	p("# The embedded single-node store (one ctsync process). For several replicas use Redis:\n")
	p("# url = \"redis://127.0.0.1:6379/0\" instead of path (see README, Configuration).\n")
	p("path = %s\n", tomlString(o.storePath))
	p("\n[worker]\n")
	p("interval = \"15s\"            # Entra's own sync runs every 40 minutes\n")
	p("# listen = \"127.0.0.1:9464\"  # status page, /metrics, /livez, /readyz, POST /sync\n")
	for _, t := range active {
		p("\n[[tenant]]\n")
		role := t.m.Role
		if role == "" {
			role = "member"
		}
		p("# %s, %s of the organisation", comment(t.m.DisplayName), comment(role))
		signedIn := strings.EqualFold(t.m.TenantID, r.signedIn.TenantID)
		if signedIn {
			p("; init signed in here")
			if len(r.verified) > 0 {
				p("\n# Verified domains: %s", comment(strings.Join(r.verified, ", ")))
			}
		}
		p("\nname = %s\n", tomlString(t.name))
		p("tenant_id = %s\n", tomlString(strings.ToLower(t.m.TenantID)))
		if domainNameRE.MatchString(t.domain) && len(t.domain) <= 253 {
			p("domain = %s            # its default domain\n", tomlString(t.domain))
		} else {
			p("# TODO: the tenant's primary domain (e.g. NAME.onmicrosoft.com); it could not be read\n")
			p("domain = \"\"\n")
		}
		if signedIn {
			p("client_id = %s\n", tomlString(r.signedIn.ClientID))
			p("credential = %s         # as init signed in\n", tomlString(r.signedIn.Credential))
			switch {
			case r.signedIn.CertificateFile != "":
				p("certificate_file = %s\n", tomlString(r.signedIn.CertificateFile))
				if r.signedIn.CertificatePasswordEnv != "" {
					p("certificate_password_env = %s\n", tomlString(r.signedIn.CertificatePasswordEnv))
				}
			case r.signedIn.SecretEnv != "":
				p("client_secret_env = %s\n", tomlString(r.signedIn.SecretEnv))
			default:
				p("client_secret_file = %s\n", tomlString(r.signedIn.SecretFile))
			}
		} else {
			p("# TODO: the app ctsync signs in as here. This is the app init signed in with: keep it if it\n")
			p("# is multi-tenant and an admin of this tenant granted it consent, else this tenant's own app.\n")
			p("client_id = %s\n", tomlString(r.signedIn.ClientID))
			if r.signedIn.CertificateFile != "" {
				p("# TODO: the app's certificate and key (PEM or PFX) for this tenant.\n")
				p("credential = \"client_certificate\"\n")
				p("certificate_file = %s\n", tomlString(filepath.Join(o.secretsDir, t.name+".pem")))
			} else {
				p("# TODO: put the app's client secret for this tenant in this file (mode 0600), or name a\n")
				p("# variable in client_secret_env instead, or use a certificate (credential = \"client_certificate\").\n")
				p("credential = \"client_secret\"\n")
				p("client_secret_file = %s\n", tomlString(filepath.Join(o.secretsDir, t.name+".secret")))
			}
		}
		if o.authorityHost != "" {
			p("authority_host = %s\n", tomlString(o.authorityHost))
		}
		if o.graphBaseURL != "" {
			p("graph_base_url = %s\n", tomlString(o.graphBaseURL))
		}
		if o.caFile != "" {
			p("ca_file = %s\n", tomlString(o.caFile))
		}
	}
	pairs := 0
	for _, s := range active {
		for _, t := range active {
			if s.name == t.name {
				continue
			}
			pairs++
			p("\n[[pair]]\nname = %s\nsource = %s\ntarget = %s\n", tomlString(s.name+"-to-"+t.name), tomlString(s.name), tomlString(t.name))
			if pairs == 1 {
				p("# Defaults: external members (user_type = \"Member\"), Entra's default mappings, a guest with the same\n")
				p("# mail that ctsync did not create is reported, not adopted (existing_guest = \"skip\"), at most 500\n")
				p("# deletes and disables per cycle without `ctsync approve`. See README, Configuration, [[pair]].\n")
			}
			p("  [pair.scope]\n  all_members = true\n")
		}
	}
	return b.String(), len(active), pairs, nil
}

// writeNewFile writes text to path ("-" is w): a new file only, unless
// force, in which case a whole new file replaces the old one at once.
func writeNewFile(path, text string, force bool, w io.Writer) error {
	if path == "-" {
		_, err := io.WriteString(w, text)
		return err
	}
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return errors.New("the file exists; give --force to overwrite it")
			}
			return err
		}
		if _, err := f.WriteString(text); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
