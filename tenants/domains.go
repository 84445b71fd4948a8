package tenants

import (
	"context"

	"github.com/microsoftgraph/msgraph-sdk-go/domains"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Domains returns the tenant's verified domain names (GET /domains, which
// needs the application permission Domain.Read.All). The worker adopts an
// existing guest by mail only when the mail's domain is one of the source
// tenant's verified domains, so that a source user cannot claim the guest
// of a third party's address.
func (s *Source) Domains(ctx context.Context) ([]string, error) {
	c := s.c
	cfg := &domains.DomainsRequestBuilderGetRequestConfiguration{
		QueryParameters: &domains.DomainsRequestBuilderGetQueryParameters{Select: []string{"id", "isVerified"}},
	}
	var out []string
	next := ""
	for {
		var resp models.DomainCollectionResponseable
		err := c.call(ctx, "GET /domains", callOpts{}, func(ctx context.Context) error {
			var err error
			if next == "" {
				resp, err = domains.NewDomainsRequestBuilderInternal(map[string]string{}, c.adapter).Get(ctx, cfg)
			} else {
				resp, err = domains.NewDomainsRequestBuilder(next, c.adapter).Get(ctx, nil)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if resp == nil {
			return out, nil
		}
		for _, d := range resp.GetValue() {
			if v := d.GetIsVerified(); v != nil && *v {
				out = append(out, deref(d.GetId()))
			}
		}
		if next = deref(resp.GetOdataNextLink()); next == "" {
			return out, nil
		}
	}
}
