package graphsim

import (
	"net/http"
	"strings"
	"testing"
)

// advancedHdr are the header half of Graph's advanced query parameters.
var advancedHdr = []string{"ConsistencyLevel", "eventual"}

// errCode returns the error code of a decoded Graph error body.
func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// TestFilterOperatorTable checks $filter support per property and operator
// against the table of "Advanced query capabilities on Microsoft Entra ID
// objects": each filter is sent plain and as an advanced query.
func TestFilterOperatorTable(t *testing.T) {
	s := startSim(t, Options{Users: 5, Seed: 4})
	ten := s.Tenant("contoso")
	id, err := ten.AddUser(map[string]any{"displayName": "Ext Holder", "mail": "holder@partner.example",
		"otherMails": []string{"alt@partner.example"}, "companyName": "Partner", "extensionAttribute15": "ctsync:a:1"})
	if err != nil {
		t.Fatal(err)
	}
	tok := accessToken(t, s, "contoso")
	const (
		ok    = 200
		needs = -1 // 400 Request_UnsupportedQuery plain, 200 advanced
		never = 400
	)
	cases := []struct {
		filter string
		want   int
	}{
		// Default filters keep working without any header.
		{"mail eq 'holder@partner.example'", ok},
		{"otherMails/any(x:x eq 'alt@partner.example')", ok},
		{"userType eq 'Member'", ok},
		{"startsWith(displayName,'Ext')", ok},
		{"startsWith(mail,'holder')", ok},
		{"mail in ('holder@partner.example','x@y.z')", ok},
		{"accountEnabled eq true", ok},
		{"identities/any(c:c/issuer eq 'contoso.onmicrosoft.com')", ok},
		// ne, not, endsWith and null checks are advanced only.
		{"mail ne 'x@y.z'", needs},
		{"not(userType eq 'Guest')", needs},
		{"endsWith(mail,'partner.example')", needs},
		{"mail eq null", needs},
		{"userType ne null", needs},
		{"otherMails/$count eq 1", needs},
		// Extension attributes: eq, ne, not, in, ge, le only as advanced queries.
		{"onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:a:1'", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 ne 'x'", needs},
		{"not(onPremisesExtensionAttributes/extensionAttribute15 eq 'x')", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 in ('ctsync:a:1','b')", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 ge 'ctsync:'", needs},
		{"onPremisesExtensionAttributes/extensionAttribute15 le 'ctsync;'", needs},
		{"startsWith(onPremisesExtensionAttributes/extensionAttribute15,'ctsync:')", never},
		{"endsWith(onPremisesExtensionAttributes/extensionAttribute15,':1')", never},
		// Properties whose eq is advanced only.
		{"companyName eq 'Partner'", needs},
		{"mobilePhone eq '1'", needs},
		{"officeLocation eq 'x'", needs},
		{"postalCode eq 'x'", needs},
		{"preferredLanguage eq 'x'", needs},
		{"streetAddress eq 'x'", needs},
		{"employeeType eq 'x'", needs},
		{"onPremisesImmutableId eq 'x'", needs},
		{"showInAddressList eq true", needs},
		// Blank cells of the table: never supported.
		{"endsWith(displayName,'r')", never},
		{"startsWith(jobTitle,'x')", never},
		{"city le 'x'", never},
		{"identities/any(c:c/issuer ne 'x')", never},
		{"businessPhones/any(x:startsWith(x,'1'))", never},
		{"passwordProfile eq 'x'", never},
	}
	for _, c := range cases {
		path := "/users?$filter=" + escape(c.filter)
		code, _, body := raw(t, s, tok, "GET", path, "")
		want := c.want
		if want == needs {
			want = http.StatusBadRequest
		}
		if code != want {
			t.Errorf("%q plain: %d, want %d (%s)", c.filter, code, want, errMessage(body))
			continue
		}
		if code == http.StatusBadRequest && errCode(body) != codeUnsupported {
			t.Errorf("%q plain: code %q, want %s", c.filter, errCode(body), codeUnsupported)
		}
		if c.want == needs && !strings.Contains(errMessage(body), "ConsistencyLevel:eventual") {
			t.Errorf("%q plain: message does not name the advanced parameters: %s", c.filter, errMessage(body))
		}
		// $count=true without the header is ignored: still plain.
		if c.want == needs {
			if code, _, _ := raw(t, s, tok, "GET", path+"&$count=true", ""); code != http.StatusBadRequest {
				t.Errorf("%q with $count=true but no header: %d, want 400", c.filter, code)
			}
			if code, _, _ := raw(t, s, tok, "GET", path, "", advancedHdr...); code != http.StatusBadRequest {
				t.Errorf("%q with the header but no $count: %d, want 400", c.filter, code)
			}
		}
		code, _, body = raw(t, s, tok, "GET", path+"&$count=true", "", advancedHdr...)
		want = c.want
		if want == needs {
			want = ok
		}
		if code != want {
			t.Errorf("%q advanced: %d, want %d (%s)", c.filter, code, want, errMessage(body))
		}
	}

	// The extension-attribute filter finds its holder.
	code, _, body := raw(t, s, tok, "GET", "/users?$count=true&$filter="+escape("onPremisesExtensionAttributes/extensionAttribute15 eq 'ctsync:a:1'"), "", advancedHdr...)
	if vals, _ := body["value"].([]any); code != 200 || len(vals) != 1 || vals[0].(map[string]any)["id"] != id || body["@odata.count"] != float64(1) {
		t.Fatalf("ext filter: %d %v", code, body)
	}
	// $count=true without the header: 200, no @odata.count.
	code, _, body = raw(t, s, tok, "GET", "/users?$count=true&$top=2", "")
	if _, has := body["@odata.count"]; code != 200 || has {
		t.Fatalf("$count=true without header: %d %v", code, body)
	}
	// The $count segment without the header is Graph's documented 400.
	code, _, body = raw(t, s, tok, "GET", "/users/$count", "")
	if code != 400 || errCode(body) != codeBadRequest || errMessage(body) != "$count is not currently supported." {
		t.Fatalf("/users/$count without header: %d %v", code, body)
	}
}
