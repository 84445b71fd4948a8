package app

import (
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/internal/config"
	"github.com/ctsync/ctsync/tenants/graphsim"
)

// SimConfig returns a ctsync configuration (TOML) for a full mesh of the
// simulator's tenants: every tenant syncs all its members into every
// other. Secrets stay in the simulator's files, referenced by path.
// extraPair, when not empty, is added to every [[pair]] (settings such as
// existing_guest = "adopt", or tables such as [pair.lifecycle]).
func SimConfig(srv *graphsim.Server, store config.Store, extraPair string) string {
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
			fmt.Fprintf(&b, "\n[[pair]]\nname = \"%s-to-%s\"\nsource = %q\ntarget = %q\n%s\n  [pair.scope]\n  all_members = true\n",
				s.Name, t.Name, s.Name, t.Name, extraPair)
		}
	}
	return b.String()
}
