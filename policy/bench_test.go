package policy

import (
	"fmt"
	"testing"
)

// BenchmarkScopeAndMappings evaluates scope and the desired attributes of
// 100,000 users with the default mappings plus an expression, a filter
// and an exclusion, as a full first cycle would, and reports the cost per
// user.
func BenchmarkScopeAndMappings(b *testing.B) {
	s := allMembers()
	s.Scope.ExcludeUPN = []string{"svc-*@contoso.com"}
	s.Scope.Filters = []FilterSpec{
		{Clauses: []ClauseSpec{{Attribute: "department", Operator: "REGEX MATCH", Value: "^(Eng|Ops)"}, {Attribute: "accountEnabled", Operator: "IS TRUE"}}},
		{Clauses: []ClauseSpec{{Attribute: "country", Operator: "EQUALS", Value: "Austria"}}},
	}
	s.Mappings = []MappingSpec{
		{Target: "displayName", Expression: `Join(" ", NormalizeDiacritics([givenName]), ToUpper([surname]))`},
		{Target: "extensionAttribute1", Expression: `IIF([country]="Germany", "DE", Switch([country], "other", "Austria", "AT"))`},
	}
	p := mustCompile(b, s)
	const n = 100_000
	depts := []string{"Engineering", "Operations", "Sales", "Marketing"}
	users := make([]user, n)
	for i := range users {
		users[i] = member(map[string]any{
			"id": fmt.Sprintf("u%d", i), "userPrincipalName": fmt.Sprintf("user%d@contoso.com", i),
			"mail": fmt.Sprintf("user%d@contoso.com", i), "givenName": "Zoë", "surname": fmt.Sprintf("Müller%d", i),
			"department": depts[i%len(depts)], "country": []string{"Germany", "Austria", "France"}[i%3],
			"businessPhones": []string{"+49 30 1234"}, "manager": "m1", "jobTitle": "Engineer",
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	in := 0
	for it := 0; it < b.N; it++ {
		for _, u := range users {
			if !p.InScope(u, nil).In {
				continue
			}
			in++
			d, err := p.Desired(u, false)
			if err != nil {
				b.Fatal(err)
			}
			_ = Hash(d)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/user")
	b.ReportMetric(float64(in)/float64(b.N*n), "in-scope-ratio")
}
