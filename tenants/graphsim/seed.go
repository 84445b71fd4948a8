package graphsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// SeedFile is the JSON format of Options.SeedFile.
//
//	{"tenants": [{"name": "contoso",
//	  "users": [{"displayName": "Ada Lovelace", "userPrincipalName": "ada@contoso.onmicrosoft.com",
//	             "department": "R&D", "manager": "boss@contoso.onmicrosoft.com",
//	             "extensionAttribute1": "x"}],
//	  "groups": [{"displayName": "Scope", "members": ["ada@contoso.onmicrosoft.com", "Other group"]}]}]}
//
// User objects take Graph property names (extension attributes flattened,
// manager by UPN or by a user listed earlier); groups list members by UPN,
// user ID or the display name of a group listed earlier.
type SeedFile struct {
	Tenants []SeedTenant `json:"tenants"`
}

// SeedTenant is one tenant of a SeedFile.
type SeedTenant struct {
	Name   string           `json:"name"`
	Users  []map[string]any `json:"users"`
	Groups []SeedGroup      `json:"groups"`
}

// SeedGroup is one group of a SeedTenant.
type SeedGroup struct {
	DisplayName string   `json:"displayName"`
	Members     []string `json:"members"`
}

func (s *Server) seed() error {
	if s.opts.SeedFile != "" {
		return s.loadSeed(s.opts.SeedFile)
	}
	var ts []*Tenant
	for _, name := range s.opts.Tenants {
		t, err := s.newTenant(name)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	// Each tenant draws from its own sequence, so generating them at once
	// seeds the same directories as one after the other.
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() {
			if err := t.generate(s.opts.Users); err != nil {
				errs[i] = fmt.Errorf("graphsim: seed %s: %w", t.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) loadSeed(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("graphsim: read seed file: %w", err)
	}
	var sf SeedFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		return fmt.Errorf("graphsim: parse seed file %s: %w", path, err)
	}
	for _, st := range sf.Tenants {
		t, err := s.newTenant(st.Name)
		if err != nil {
			return err
		}
		for i, u := range st.Users {
			// Managers may come later in the file: link them in a second pass.
			mgr, hasMgr := u["manager"]
			delete(u, "manager")
			id, err := t.AddUser(u)
			if err != nil {
				return fmt.Errorf("graphsim: seed %s user %d: %w", st.Name, i, err)
			}
			if hasMgr {
				u["manager"] = mgr
				u["id"] = id
			}
		}
		for i, u := range st.Users {
			if m, ok := u["manager"]; ok {
				if err := t.UpdateUser(u["id"].(string), map[string]any{"manager": m}); err != nil {
					return fmt.Errorf("graphsim: seed %s user %d manager: %w", st.Name, i, err)
				}
			}
		}
		for _, g := range st.Groups {
			if _, err := t.AddGroup(g.DisplayName, g.Members...); err != nil {
				return fmt.Errorf("graphsim: seed %s group %q: %w", st.Name, g.DisplayName, err)
			}
		}
	}
	return nil
}

var (
	seedGiven = []string{"Ada", "Ben", "Chloé", "Dmitri", "Élodie", "François", "Grace", "Hiroshi", "Inès", "José",
		"Kai", "Léa", "Mohammed", "Nuno", "Olga", "Priya", "Quentin", "Renée", "Siobhán", "Tomás", "Uma",
		"Viktor", "Wei", "Xavier", "Yasmin", "Zoë", "Liam", "Noah", "Emma", "Seán", "Aoife", "Björn"}
	seedSurname = []string{"Smith", "O'Brien", "Müller", "García", "Nguyen", "Kowalski", "D'Angelo", "Núñez",
		"Johansson", "Dubois", "Rossi", "Tanaka", "Okafor", "van der Berg", "MacDonald", "O'Neil", "Schäfer",
		"Çelik", "Wójcik", "Brown", "Łukasiewicz", "Ødegaard"}
	seedDepts  = []string{"Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Legal", "Operations", "Support"}
	seedTitles = []string{"Vice President", "Director", "Manager", "Senior Specialist", "Specialist", "Associate"}
	seedPlaces = [][3]string{{"Paris", "France", "FR"}, {"London", "United Kingdom", "GB"}, {"Berlin", "Germany", "DE"},
		{"Madrid", "Spain", "ES"}, {"Seattle", "United States", "US"}, {"Dublin", "Ireland", "IE"}, {"Tokyo", "Japan", "JP"}}
	seedGuestDomains = []string{"partner.example", "vendor.example", "agency.example"}
)

var foldMap = map[rune]string{
	'á': "a", 'à': "a", 'â': "a", 'ä': "a", 'ã': "a", 'å': "a", 'ç': "c", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i", 'ñ': "n", 'ó': "o", 'ò': "o", 'ô': "o", 'ö': "o", 'õ': "o", 'ø': "o",
	'ú': "u", 'ù': "u", 'û': "u", 'ü': "u", 'ý': "y", 'ÿ': "y", 'ł': "l", 'ś': "s", 'ź': "z", 'ż': "z", 'ß': "ss",
}

// aliasOf makes a mail alias from a display name: lower-case ASCII, dots
// for spaces, apostrophes kept (o'brien is a valid address).
func aliasOf(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '\'', r == '-', r == '.':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('.')
		default:
			if f, ok := foldMap[r]; ok {
				b.WriteString(f)
			}
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "user"
	}
	return s
}

// generate seeds n deterministic users: an org chart with manager chains,
// departments, a few disabled accounts and existing guests, awkward names
// (apostrophes, accents) and empty fields; and groups with nesting.
func (t *Tenant) generate(n int) error {
	// New users go to the end of t.ids and are sorted once at the end,
	// instead of being inserted in order one by one (quadratic).
	t.mu.Lock()
	t.bulk = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.bulk = false
		slices.Sort(t.ids)
		t.mu.Unlock()
	}()
	company := strings.ToUpper(t.name[:1]) + t.name[1:] + " Ltd"
	attrs := make(map[string]any, 24)
	// The few distinct names, places and titles are boxed once and shared
	// by every user holding them (a stored string keeps its box).
	boxes := map[string]any{}
	shared := func(s string) any {
		b, ok := boxes[s]
		if !ok {
			b = s
			boxes[s] = b
		}
		return b
	}
	r := t.rng
	var ids []string
	used := map[string]int{}
	byDept := map[string][]string{}
	guests := 0
	if n >= 5 {
		guests = max(1, n/40)
	}
	members := n - guests
	for i := 0; i < members; i++ {
		given := seedGiven[r.IntN(len(seedGiven))]
		sur := seedSurname[r.IntN(len(seedSurname))]
		alias := aliasOf(given + " " + sur)
		used[alias]++
		if used[alias] > 1 {
			alias = fmt.Sprintf("%s%d", alias, used[alias])
		}
		upn := alias + "@" + t.domain
		place := seedPlaces[r.IntN(len(seedPlaces))]
		dept := seedDepts[r.IntN(len(seedDepts))]
		title := seedTitles[min(len(seedTitles)-1, levelOf(i))]
		if i == 0 {
			dept, title = "Executive", "Chief Executive Officer"
		}
		clear(attrs) // reused: AddUser copies what it keeps
		attrs["displayName"] = given + " " + sur
		attrs["givenName"] = shared(given)
		attrs["surname"] = shared(sur)
		upnBox := any(upn) // one box for both
		attrs["userPrincipalName"] = upnBox
		attrs["mailNickname"] = alias
		attrs["mail"] = upnBox
		attrs["department"] = shared(dept)
		attrs["jobTitle"] = shared(title)
		attrs["companyName"] = shared(company)
		attrs["officeLocation"] = fmt.Sprintf("%s %d/%03d", place[0], 1+r.IntN(9), r.IntN(400))
		attrs["city"] = shared(place[0])
		attrs["country"] = shared(place[1])
		attrs["usageLocation"] = shared(place[2])
		attrs["employeeId"] = fmt.Sprintf("E%05d", 10000+i)
		attrs["businessPhones"] = []string{fmt.Sprintf("+1 555 01%02d %04d", r.IntN(100), r.IntN(10000))}
		attrs["mobilePhone"] = fmt.Sprintf("+44 7700 %06d", r.IntN(1000000))
		attrs["showInAddressList"] = true
		attrs["accountEnabled"] = i%17 != 5
		attrs["preferredLanguage"] = "en-US"
		switch {
		case i%11 == 3:
			delete(attrs, "jobTitle")
		case i%13 == 7:
			attrs["department"] = nil
		case i%19 == 9:
			delete(attrs, "mobilePhone")
			attrs["businessPhones"] = []string{}
		}
		if i%9 == 2 {
			attrs["extensionAttribute1"] = fmt.Sprintf("CC-%04d", r.IntN(10000))
		}
		if i > 0 {
			attrs["manager"] = ids[(i-1)/4]
		}
		id, err := t.AddUser(attrs)
		if err != nil {
			return err
		}
		ids = append(ids, id)
		if d, ok := attrs["department"].(string); ok && i > 0 {
			byDept[d] = append(byDept[d], id)
		}
	}
	for g := 0; g < guests; g++ {
		given := seedGiven[r.IntN(len(seedGiven))]
		sur := seedSurname[r.IntN(len(seedSurname))]
		email := aliasOf(given+" "+sur) + fmt.Sprintf("%d@%s", g, seedGuestDomains[g%len(seedGuestDomains)])
		upn := guestUPN(email, t.domain)
		state := "Accepted"
		if g%2 == 1 {
			state = "PendingAcceptance"
		}
		if _, err := t.AddUser(map[string]any{
			"displayName":       given + " " + sur + " (Guest)",
			"userPrincipalName": upn,
			"mailNickname":      strings.Replace(email, "@", "_", 1) + "#EXT#",
			"mail":              email,
			"otherMails":        []string{email},
			"userType":          "Guest",
			"creationType":      "Invitation",
			"externalUserState": state,
		}); err != nil {
			return err
		}
	}
	// Groups: one per department, nested into "All Staff"; "Sync Scope"
	// nests two department groups and has a few direct members.
	var deptGroups []string
	for _, d := range seedDepts {
		gid, err := t.AddGroup("Dept "+d, byDept[d]...)
		if err != nil {
			return err
		}
		deptGroups = append(deptGroups, gid)
	}
	allStaff := deptGroups
	if len(ids) > 0 {
		allStaff = append([]string{ids[0]}, deptGroups...)
	}
	if _, err := t.AddGroup("All Staff", allStaff...); err != nil {
		return err
	}
	scope := []string{deptGroups[0], deptGroups[1]}
	for i := 0; i < len(ids) && i < 3; i++ {
		scope = append(scope, ids[len(ids)-1-i])
	}
	if _, err := t.AddGroup("Sync Scope", scope...); err != nil {
		return err
	}
	return nil
}

// levelOf is the depth of user i in the seeded org chart (fan-out 4).
func levelOf(i int) int {
	lvl := 0
	for i > 0 {
		i = (i - 1) / 4
		lvl++
	}
	return lvl
}
