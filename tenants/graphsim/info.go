package graphsim

// Info describes a running simulator for other processes (ctsync sim
// --write-info): where to authenticate and what credentials each tenant's
// default app has.
type Info struct {
	Authority string `json:"authority"`
	Graph     string `json:"graph"`
	CAFile    string `json:"ca_file"`
	// SharedApp is set when one multi-tenant app serves every tenant: each
	// TenantInfo then names the same client ID, secret and files.
	SharedApp bool         `json:"shared_app,omitempty"`
	Tenants   []TenantInfo `json:"tenants"`
}

// TenantInfo is one tenant of Info.
type TenantInfo struct {
	Name         string `json:"name"`
	TenantID     string `json:"tenant_id"`
	Domain       string `json:"domain"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	CertFile     string `json:"cert_file"`
	KeyFile      string `json:"key_file"`
}

// Info returns the simulator's connection details.
func (s *Server) Info() Info {
	in := Info{Authority: s.AuthorityURL(), Graph: s.GraphURL(), CAFile: s.caFile, SharedApp: s.opts.SharedApp, Tenants: []TenantInfo{}}
	for _, t := range s.tenants {
		f := s.files[t.name]
		in.Tenants = append(in.Tenants, TenantInfo{
			Name: t.name, TenantID: t.id, Domain: t.domain,
			ClientID: t.mainApp.clientID, ClientSecret: t.mainApp.secret,
			CertFile: f.cert, KeyFile: f.key,
		})
	}
	return in
}

// SecretFile is the path of a tenant's client secret file (0600).
func (s *Server) SecretFile(tenant string) string {
	if t := s.Tenant(tenant); t != nil {
		return s.files[t.name].secret
	}
	return ""
}
