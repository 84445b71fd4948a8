package app

import (
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// DefaultSimPair is the policy SimConfig gives every pair: all members,
// adopting guests that already exist.
const DefaultSimPair = "existing_guest = \"adopt\"\n[pair.scope]\nall_members = true\n"

// SimConfig returns a ctsync configuration (TOML) for a full mesh of the
// simulator's tenants, every tenant syncing into every other. Secrets stay
// in the simulator's files, referenced by path. pairPolicy is the TOML of
// each pair after its name, source and target (DefaultSimPair when
// empty): settings, then tables such as [pair.scope] and [pair.lifecycle].
func SimConfig(srv *graphsim.Server, store config.Store, pairPolicy string) string {
	if pairPolicy == "" {
		pairPolicy = DefaultSimPair
	}
	info := srv.Info()
	var b strings.Builder
	fmt.Fprintf(&b, "# ctsync configuration for the simulator at %s\n\n[store]\n", info.Authority)
	if store.Path != "" {
		fmt.Fprintf(&b, "path = %q\n", store.Path)
	} else {
		fmt.Fprintf(&b, "url = %q\n", store.URL)
	}
	fmt.Fprintf(&b, "\n[worker]\ninterval = \"1m\"\n")
	for _, t := range info.Tenants {
		fmt.Fprintf(&b, "\n[[tenant]]\nname = %q\ntenant_id = %q\ndomain = %q\nclient_id = %q\n", t.Name, t.TenantID, t.Domain, t.ClientID)
		fmt.Fprintf(&b, "credential = \"client_secret\"\nclient_secret_file = %q\n", srv.SecretFile(t.Name))
		fmt.Fprintf(&b, "authority_host = %q\ngraph_base_url = %q\nca_file = %q\n", info.Authority, info.Graph, info.CAFile)
	}
	for _, s := range info.Tenants {
		for _, t := range info.Tenants {
			if s.Name == t.Name {
				continue
			}
			fmt.Fprintf(&b, "\n[[pair]]\nname = \"%s-to-%s\"\nsource = %q\ntarget = %q\n%s", s.Name, t.Name, s.Name, t.Name, pairPolicy)
		}
	}
	return b.String()
}
