package tenants

import (
	"context"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/domains"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Domains returns the source tenant's verified domain names (GET /domains,
// application permission Domain.Read.All), lower-cased: a guest is adopted
// by mail only when the mail's domain is one the source tenant proved it
// owns, so an unverified (claimed but unproven) domain is left out.
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
			if d == nil {
				continue
			}
			if v := d.GetIsVerified(); v != nil && *v {
				if id := deref(d.GetId()); id != "" {
					out = append(out, strings.ToLower(id))
				}
			}
		}
		if next = deref(resp.GetOdataNextLink()); next == "" {
			return out, nil
		}
	}
}
