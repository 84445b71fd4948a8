package policy

import (
	"reflect"
	"strings"
	"testing"
)

// exprUser is the user the function table evaluates against.
var exprUser = user{
	"givenName": "Zoë", "surname": "Ångström", "displayName": "Zoë Ångström",
	"userPrincipalName": "zoe.angstrom@contoso.com", "mail": nil, "department": "Engineering",
	"country": "USA", "state": "CA", "jobTitle": "  Lead Engineer ", "employeeId": "1042",
	"accountEnabled": true, "proxyAddresses": []string{"SMTP:zoe@contoso.com", "smtp:z@contoso.com"},
	"extensionAttribute5": "PermissionSetOne,PermissionSetTwo", "mobilePhone": "+1 (999) 888-7777",
	"businessPhones": []string{}, "city": "", "streetAddress": "545 Tremont Street",
	"employeeType": "", "officeLocation": "+91 8887779999",
}

func evalString(t *testing.T, src string, u Attributes) (any, error) {
	t.Helper()
	e, perr := parseExpr(src)
	if perr != nil {
		t.Fatalf("parse %s: column %d: %s", src, column(src, perr.pos), perr.msg)
	}
	return e.eval(u)
}

// TestFunctions has a row per function and documented edge case.
func TestFunctions(t *testing.T) {
	cases := []struct {
		src  string
		want any
	}{
		// Literals and attributes.
		{`[givenName]`, "Zoë"},
		{`"Company name: \"Contoso\" \\ x"`, `Company name: "Contoso" \ x`},
		{`42`, int64(42)},
		{`[companyName]`, nil},
		// Append
		{`Append([userPrincipalName], ".test")`, "zoe.angstrom@contoso.com.test"},
		{`Append([mail], ".test")`, nil},
		{`Append([givenName], [mail])`, "Zoë"},
		// CStr
		{`CStr([accountEnabled])`, "True"},
		{`CStr(12)`, "12"},
		// Coalesce
		{`Coalesce([mail], [userPrincipalName])`, "zoe.angstrom@contoso.com"},
		{`Coalesce([mail], [city], "none")`, "none"},
		{`Coalesce([mail], [city])`, nil},
		{`Coalesce([givenName])`, "Zoë"},
		// IIF and comparisons
		{`IIF([country]="USA",[country],[department])`, "USA"},
		{`IIF([country]<>"USA",[country],[department])`, "Engineering"},
		{`IIF([country]="USA",IIF([state]="CA","True","False"),"False")`, "True"},
		{`IIF([employeeId] > 1000, "senior", "junior")`, "senior"},
		{`IIF([employeeId] >= "1042", "y", "n")`, "y"},
		{`IIF([employeeId] < 999, "y", "n")`, "n"},
		{`IIF([employeeId] <= 1042, "y", "n")`, "y"},
		{`IIF([country] = "", "Other", [country])`, "USA"},
		{`IIF([city] = "", "Other", [city])`, "Other"},
		{`IIF([mail] = "", "Other", [mail])`, "Other"},
		{`IIF([accountEnabled] = "true", "on", "off")`, "on"},
		{`IIF(IsNullOrEmpty([mail]), "no mail", [mail])`, "no mail"},
		{`IIF("False", Not([department]), "safe")`, "safe"}, // the untaken branch is not evaluated
		// IsNull, IsNullOrEmpty, IsPresent, Not
		{`IsNull([mail])`, true},
		{`IsNull([city])`, false},
		{`IsNullOrEmpty([city])`, true},
		{`IsNullOrEmpty([businessPhones])`, true},
		{`IsNullOrEmpty([givenName])`, false},
		{`IsPresent([givenName])`, true},
		{`IsPresent([mail])`, false},
		{`Not([accountEnabled])`, false},
		{`Not("False")`, true},
		{`Not(IsNull([mail]))`, false},
		// Item and Split
		{`Item([proxyAddresses], 1)`, "SMTP:zoe@contoso.com"},
		{`Item([proxyAddresses], 2)`, "smtp:z@contoso.com"},
		{`Item([proxyAddresses], 3)`, nil},
		{`Item([givenName], 1)`, "Zoë"},
		{`Item([mail], 1)`, nil},
		{`Split([extensionAttribute5], ",")`, []string{"PermissionSetOne", "PermissionSetTwo"}},
		{`Item(Split([userPrincipalName], "@"), 2)`, "contoso.com"},
		{`Split([mail], ",")`, nil},
		// Join
		{`Join(" ", [givenName], [surname])`, "Zoë Ångström"},
		{`Join(", ", "", [surname], [givenName])`, "Ångström, Zoë"},
		{`Join("", 1000, [employeeId])`, "10001042"},
		{`Join(";", [proxyAddresses], [mail], [city])`, "SMTP:zoe@contoso.com;smtp:z@contoso.com"},
		// Left
		{`Left("John Doe", 3)`, "Joh"},
		{`Left([givenName], 3)`, "Zoë"},
		{`Left([givenName], 2)`, "Zo"},
		{`Left("abc", 0)`, ""},
		{`Left("abc", -1)`, "abc"},
		{`Left([mail], 2)`, ""},
		{`Left("ab", 10)`, "ab"},
		// Mid
		{`Mid([givenName], 1, 2)`, "Zo"},
		{`Mid([surname], 2, 4)`, "ngst"},
		{`Mid("abc", 2, 10)`, "bc"},
		{`Mid("abc", 5, 1)`, ""},
		{`Mid([mail], 1, 1)`, nil},
		{`Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))`, "ZoëÅngst"},
		// NormalizeDiacritics
		{`NormalizeDiacritics([givenName])`, "Zoe"},
		{`NormalizeDiacritics([surname])`, "Angstrom"},
		{`NormalizeDiacritics("Œuvre Ørsted Straße Łódź Ā́")`, "OEuvre OErsted Strasse Lodz A"},
		{`NormalizeDiacritics("plain")`, "plain"},
		{`NormalizeDiacritics([mail])`, nil},
		// Replace, every mode
		{`Replace("Product Developer", "Product Developer", , , "Software Engineer", , )`, "Software Engineer"},
		{`Replace([userPrincipalName], "@contoso.com", , ,"", ,)`, "zoe.angstrom"},
		{`Replace("jsmith", "<username>", , , , , "<username>@contoso.com")`, "jsmith@contoso.com"},
		{`Replace("+91 9998887777", , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )`, "9998887777"},
		{`Replace([mobilePhone], , "[()\\s-]+", , "", , )`, "+19998887777"},
		{`Replace([streetAddress], ,"(?<streetNumber>^\\d*)","streetNumber", "888", , )`, "888 Tremont Street"},
		{`Replace("jsmith@contoso.com", , "(?<Suffix>@(.)*)", "Suffix", "", , )`, "jsmith"},
		{`Replace([city], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [officeLocation], )`, "8887779999"},
		{`Replace([givenName], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", "phoneNumber" , , [officeLocation], )`, "Zoë"},
		{`Replace("john_doe72", , "[a-zA-Z_]*", , "", , )`, "72"},
		{`Replace([mail], "a", , , "b", , )`, nil},
		{`Replace("a.b", ".", , , "-")`, "a-b"},
		// StripSpaces, Trim
		{`StripSpaces("a b  c")`, "abc"},
		{`Trim([jobTitle])`, "Lead Engineer"},
		{`StripSpaces([mail])`, nil},
		// Switch
		{`Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney", "QLD", "Australia/Brisbane")`, "Australia/Sydney"},
		{`Switch("QLD", "Australia/Sydney", "NSW", "Australia/Sydney", "QLD", "Australia/Brisbane")`, "Australia/Brisbane"},
		{`Switch([mail], "Default Value", "true", "1", "", "0")`, "0"},
		{`Switch([state], , "NSW", "x")`, nil},
		{`Switch("ca", "no", "CA", "yes")`, "no"},
		// ToLower, ToUpper
		{`ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), "contoso.com"))`, "zoe.angstrom@contoso.com"},
		{`ToUpper([department])`, "ENGINEERING"},
		{`ToUpper("istanbul", "tr-TR")`, "İSTANBUL"},
		{`ToLower("ISTANBUL", "en-US")`, "istanbul"},
		{`ToLower([mail])`, nil},
		// Word
		{`Word("The quick brown fox",3," ")`, "brown"},
		{`Word("This,string!has&many separators",3,",!&#")`, "has"},
		{`Word("a  b", 2, " ")`, "b"},
		{`Word("a b", 3, " ")`, ""},
		{`Word("a b", 0, " ")`, ""},
		{`Word([mail], 1, " ")`, ""},
	}
	for _, c := range cases {
		got, err := evalString(t, c.src, exprUser)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
		}
	}
}

// TestFunctionRuntimeErrors: problems only a user's data reveals.
func TestFunctionRuntimeErrors(t *testing.T) {
	cases := []struct{ src, msgPart string }{
		{`IIF([department], "a", "b")`, "condition: want True or False"},
		{`Not([department])`, "want True or False"},
		{`Left([givenName], [department])`, "want an integer"},
		{`Mid([givenName], [employeeId] < 0, 1)`, "want an integer"},
		{`Mid([givenName], Left("0", 1), 1)`, "counted from 1"},
		{`Item([proxyAddresses], Left("0", 1))`, "counted from 1"},
		{`Append([proxyAddresses], "x")`, "multi-valued"},
		{`Split([givenName], [mail])`, "delimiter is empty"},
		{`IIF([proxyAddresses] = "x", "a", "b")`, "multi-valued"},
		{`ToUpper(Left([givenName], [department]))`, "Left (column 9)"},
	}
	for _, c := range cases {
		_, err := evalString(t, c.src, exprUser)
		if err == nil || !strings.Contains(err.Error(), c.msgPart) {
			t.Errorf("%s: error %v, want it to contain %q", c.src, err, c.msgPart)
		}
	}
}

// TestParseErrors checks the message and the column of each problem.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		src     string
		col     int
		msgPart string
	}{
		{``, 1, "empty expression"},
		{`Jion(" ", [a])`, 1, `unknown function "Jion"`},
		{`join(" ", [givenName])`, 1, "case-sensitive: Join"},
		{`Join(" ", [givenName], [surnmae])`, 24, "unknown source attribute [surnmae]"},
		{`Join(" ", [givenName`, 11, `missing "]"`},
		{`Join(" , [givenName])`, 6, "string constant not closed"},
		{`Join(" ", [givenName]`, 22, `expected "," or ")"`},
		{`Join(" ", [givenName]))`, 23, "after the end"},
		{`Join " "`, 6, `expected "(" after Join`},
		{`ToLower([givenName], "x", "y")`, 1, "ToLower takes 1 to 2 arguments, got 3"},
		{`IIF([country]="USA", "a")`, 1, "IIF takes 3 arguments, got 2"},
		{`Append("a")`, 1, "Append takes 2 arguments"},
		{`Switch([state], "d", "k")`, 1, "Switch takes at least 4"},
		{`Switch([state], "d", "k", "v", "k2")`, 1, "odd count"},
		{`Left([givenName], "x")`, 19, "Left argument 2: want an integer"},
		{`Left([givenName], )`, 19, "Left argument 2: is required"},
		{`Mid([givenName], 0, 2)`, 18, "counted from 1"},
		{`Mid([givenName], 1, -2)`, 21, "negative"},
		{`Item([proxyAddresses], 0)`, 24, "counted from 1"},
		{`Split([givenName], "")`, 20, "delimiter must not be empty"},
		{`Word([givenName], "two", " ")`, 19, "want an integer"},
		{`Replace([mail], , "(", , "x", , )`, 19, "bad regular expression"},
		{`Replace([mail], , [department], , "x", , )`, 19, "string constant"},
		{`Replace([mail], , "(?<a>x)", "b", "x", , )`, 30, `no group named "b"`},
		{`Replace([mail], "a", "b", , "x", , )`, 22, "not both"},
		{`Replace([mail], "a", , , , , )`, 1, "Replace needs"},
		{`Replace([mail], "", , , "x", , )`, 17, "oldValue must not be empty"},
		{`[givenName] = [surname] = [mail]`, 25, "cannot be chained"},
		{`'single'`, 1, "double quotes"},
		{`Join(" ", (x))`, 11, `"(" must follow a function name`},
		{`Append([givenName], "é") @`, 26, "unexpected character '@'"},
		{`Append("é", -)`, 13, `"-" must start a number`},
		{`Join(" ", [])`, 11, "empty attribute name"},
		{`,`, 1, "expected an attribute"},
	}
	for _, c := range cases {
		_, err := parseExpr(c.src)
		if err == nil {
			t.Errorf("%s: parsed", c.src)
			continue
		}
		if col := column(c.src, err.pos); col != c.col || !strings.Contains(err.msg, c.msgPart) {
			t.Errorf("%s: column %d %q; want column %d containing %q", c.src, col, err.msg, c.col, c.msgPart)
		}
	}
}

func TestExpressionLimits(t *testing.T) {
	deep := strings.Repeat("ToLower(", 100) + `"x"` + strings.Repeat(")", 100)
	if _, err := parseExpr(deep); err == nil || !strings.Contains(err.msg, "nested deeper") {
		t.Errorf("deep nesting: %v", err)
	}
	long := `Join("", ` + strings.Repeat(`"x", `, 2000) + `"x")`
	if _, err := parseExpr(long); err == nil || !strings.Contains(err.msg, "longer than") {
		t.Errorf("long expression: %v", err)
	}
}

func TestExpressionAttributesAreCollectedCanonically(t *testing.T) {
	e, err := parseExpr(`Join(" ", [GivenName], [surname], [givenname], [ExtensionAttribute3])`)
	if err != nil {
		t.Fatal(err.msg)
	}
	if want := []string{"givenName", "surname", "extensionAttribute3"}; !reflect.DeepEqual(e.attrs, want) {
		t.Fatalf("attrs %v, want %v", e.attrs, want)
	}
}

func TestSuggestProp(t *testing.T) {
	for in, want := range map[string]string{"surnmae": "surname", "departmnt": "department", "a": "", "xyzzy": ""} {
		got := suggestProp(in)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("suggestProp(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValuesCannotBlowUp(t *testing.T) {
	doubling := `"ab"`
	for i := 0; i < 20; i++ {
		doubling = `Replace(` + doubling + `, "a", , , "aa", , )`
	}
	regexDoubling := `"ab"`
	for i := 0; i < 20; i++ {
		regexDoubling = `Replace(` + regexDoubling + `, , ".+", , "${0}${0}", , )`
	}
	tpl := `"ab"`
	for i := 0; i < 20; i++ {
		tpl = `Replace(` + tpl + `, "x", , , , , "xx")`
	}
	for _, src := range []string{doubling, regexDoubling, tpl} {
		_, err := evalString(t, src, user{})
		if err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%.60s...: %v", src, err)
		}
	}
	if got, _ := evalString(t, `Replace("aXb", , "(?<m>X)", , "[${m}]", , )`, user{}); got != "a[X]b" {
		t.Errorf("regex expansion: %v", got)
	}
}
