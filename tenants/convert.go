package tenants

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// userProp reads and writes one Graph user property on the SDK's model.
// Exactly one pair of functions is set, by the property's type.
type userProp struct {
	getS  func(models.Userable) *string
	setS  func(models.Userable, *string)
	getB  func(models.Userable) *bool
	setB  func(models.Userable, *bool)
	getL  func(models.Userable) []string
	setL  func(models.Userable, []string)
	getT  func(models.Userable) *time.Time
	setT  func(models.Userable, *time.Time)
	fixed bool // read-only in Graph
}

func str(g func(models.Userable) *string, s func(models.Userable, *string)) userProp {
	return userProp{getS: g, setS: s}
}

// userProps are the user properties ctsync converts through the SDK's typed
// model. Any other name goes through the model's AdditionalData, so
// directory extensions (extension_<appid>_<name>) work as well.
var userProps = map[string]userProp{
	"displayName":       str(models.Userable.GetDisplayName, models.Userable.SetDisplayName),
	"givenName":         str(models.Userable.GetGivenName, models.Userable.SetGivenName),
	"surname":           str(models.Userable.GetSurname, models.Userable.SetSurname),
	"mail":              str(models.Userable.GetMail, models.Userable.SetMail),
	"mailNickname":      str(models.Userable.GetMailNickname, models.Userable.SetMailNickname),
	"userPrincipalName": str(models.Userable.GetUserPrincipalName, models.Userable.SetUserPrincipalName),
	"jobTitle":          str(models.Userable.GetJobTitle, models.Userable.SetJobTitle),
	"department":        str(models.Userable.GetDepartment, models.Userable.SetDepartment),
	"companyName":       str(models.Userable.GetCompanyName, models.Userable.SetCompanyName),
	"officeLocation":    str(models.Userable.GetOfficeLocation, models.Userable.SetOfficeLocation),
	"mobilePhone":       str(models.Userable.GetMobilePhone, models.Userable.SetMobilePhone),
	"faxNumber":         str(models.Userable.GetFaxNumber, models.Userable.SetFaxNumber),
	"employeeId":        str(models.Userable.GetEmployeeId, models.Userable.SetEmployeeId),
	"employeeType":      str(models.Userable.GetEmployeeType, models.Userable.SetEmployeeType),
	"city":              str(models.Userable.GetCity, models.Userable.SetCity),
	"country":           str(models.Userable.GetCountry, models.Userable.SetCountry),
	"state":             str(models.Userable.GetState, models.Userable.SetState),
	"streetAddress":     str(models.Userable.GetStreetAddress, models.Userable.SetStreetAddress),
	"postalCode":        str(models.Userable.GetPostalCode, models.Userable.SetPostalCode),
	"usageLocation":     str(models.Userable.GetUsageLocation, models.Userable.SetUsageLocation),
	"preferredLanguage": str(models.Userable.GetPreferredLanguage, models.Userable.SetPreferredLanguage),
	"ageGroup":          str(models.Userable.GetAgeGroup, models.Userable.SetAgeGroup),
	"userType":          str(models.Userable.GetUserType, models.Userable.SetUserType),
	"onPremisesImmutableId": str(models.Userable.GetOnPremisesImmutableId,
		models.Userable.SetOnPremisesImmutableId),
	"creationType":      {getS: models.Userable.GetCreationType, fixed: true},
	"externalUserState": {getS: models.Userable.GetExternalUserState, fixed: true},
	"accountEnabled":    {getB: models.Userable.GetAccountEnabled, setB: models.Userable.SetAccountEnabled},
	"showInAddressList": {getB: models.Userable.GetShowInAddressList, setB: models.Userable.SetShowInAddressList},
	"otherMails":        {getL: models.Userable.GetOtherMails, setL: models.Userable.SetOtherMails},
	"businessPhones":    {getL: models.Userable.GetBusinessPhones, setL: models.Userable.SetBusinessPhones},
	"proxyAddresses":    {getL: models.Userable.GetProxyAddresses, fixed: true},
	"employeeHireDate":  {getT: models.Userable.GetEmployeeHireDate, setT: models.Userable.SetEmployeeHireDate},
	"createdDateTime":   {getT: models.Userable.GetCreatedDateTime, fixed: true},
}

// extension attribute accessors, index 0 = extensionAttribute1.
var (
	extGet = [15]func(models.OnPremisesExtensionAttributesable) *string{
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute1, models.OnPremisesExtensionAttributesable.GetExtensionAttribute2,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute3, models.OnPremisesExtensionAttributesable.GetExtensionAttribute4,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute5, models.OnPremisesExtensionAttributesable.GetExtensionAttribute6,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute7, models.OnPremisesExtensionAttributesable.GetExtensionAttribute8,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute9, models.OnPremisesExtensionAttributesable.GetExtensionAttribute10,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute11, models.OnPremisesExtensionAttributesable.GetExtensionAttribute12,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute13, models.OnPremisesExtensionAttributesable.GetExtensionAttribute14,
		models.OnPremisesExtensionAttributesable.GetExtensionAttribute15,
	}
	extSet = [15]func(models.OnPremisesExtensionAttributesable, *string){
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute1, models.OnPremisesExtensionAttributesable.SetExtensionAttribute2,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute3, models.OnPremisesExtensionAttributesable.SetExtensionAttribute4,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute5, models.OnPremisesExtensionAttributesable.SetExtensionAttribute6,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute7, models.OnPremisesExtensionAttributesable.SetExtensionAttribute8,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute9, models.OnPremisesExtensionAttributesable.SetExtensionAttribute10,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute11, models.OnPremisesExtensionAttributesable.SetExtensionAttribute12,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute13, models.OnPremisesExtensionAttributesable.SetExtensionAttribute14,
		models.OnPremisesExtensionAttributesable.SetExtensionAttribute15,
	}
)

const propExtAttrs = "onPremisesExtensionAttributes"

// selectFor returns the $select list for the wanted directory property
// names: flattened extension attributes become onPremisesExtensionAttributes,
// "manager" is dropped (GET /users cannot select it: it is read by
// Managers), id and always are added.
func selectFor(props []string, always ...string) []string {
	return selectList(props, false, always)
}

// deltaSelectFor is selectFor for users delta, which can select "manager"
// and then reports manager@delta.
func deltaSelectFor(props []string, always ...string) []string {
	return selectList(props, true, always)
}

func selectList(props []string, manager bool, always []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add("id")
	for _, p := range always {
		add(p)
	}
	for _, p := range props {
		switch _, ext := extensionSlot(p); {
		case ext:
			add(propExtAttrs)
		case p == directory.PropManager:
			if manager {
				add(p)
			}
		default:
			add(p)
		}
	}
	return out
}

// fromModel converts a Graph user into a directory.User with the given
// properties. present says whether Graph sent a property at all (a delta
// page may leave unchanged ones out); a property sent as null, or selected
// and absent from a full read, is nil.
func fromModel(u models.Userable, props []string, present func(string) bool) directory.User {
	out := directory.User{ID: deref(u.GetId()), Attrs: make(map[string]any, len(props))}
	var ext models.OnPremisesExtensionAttributesable
	extRead := false
	for _, name := range props {
		if name == directory.PropManager {
			continue // fetched separately (Source.Managers)
		}
		if n, ok := extensionSlot(name); ok {
			if !present(propExtAttrs) {
				continue
			}
			if !extRead {
				ext, extRead = u.GetOnPremisesExtensionAttributes(), true
			}
			if ext == nil {
				out.Attrs[name] = nil
			} else {
				out.Attrs[name] = strOrNil(extGet[n-1](ext))
			}
			continue
		}
		if !present(name) {
			continue
		}
		out.Attrs[name] = readProp(u, name)
	}
	return out
}

func readProp(u models.Userable, name string) any {
	p, ok := userProps[name]
	switch {
	case !ok:
		return fromRaw(u.GetAdditionalData()[name])
	case p.getS != nil:
		return strOrNil(p.getS(u))
	case p.getB != nil:
		if b := p.getB(u); b != nil {
			return *b
		}
		return nil
	case p.getL != nil:
		if l := p.getL(u); l != nil {
			return append([]string{}, l...)
		}
		return nil
	case p.getT != nil:
		if t := p.getT(u); t != nil {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return nil
}

// fromRaw converts a value of the SDK's AdditionalData into ctsync's value
// types (string, bool, int64, []string or nil).
func fromRaw(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case *string:
		return strOrNil(x)
	case string:
		return x
	case *bool:
		if x == nil {
			return nil
		}
		return *x
	case bool:
		return x
	case *float64:
		if x == nil {
			return nil
		}
		return fromRaw(*x)
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case *int64:
		if x == nil {
			return nil
		}
		return *x
	case int64:
		return x
	case *int32:
		if x == nil {
			return nil
		}
		return int64(*x)
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := fromRaw(e).(string); ok {
				out = append(out, s)
			}
		}
		return out
	default:
		return fmt.Sprint(x)
	}
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// toModel builds the PATCH body for props: typed setters for known
// properties, AdditionalData for others and for nulls (the SDK's typed
// serializers skip nil values, which would make clearing impossible), and
// flattened extensionAttributeN gathered into onPremisesExtensionAttributes.
// "manager" must have been taken out by the caller.
func toModel(props map[string]any) (models.Userable, error) {
	u := models.NewUser()
	u.SetOdataType(nil) // Graph needs no type annotation on PATCH
	extra := map[string]any{}
	var ext models.OnPremisesExtensionAttributesable
	for name, v := range props {
		if n, ok := extensionSlot(name); ok {
			if ext == nil {
				ext = models.NewOnPremisesExtensionAttributes()
			}
			switch s := v.(type) {
			case nil:
				ext.GetAdditionalData()[name] = nil
			case string:
				extSet[n-1](ext, &s)
			default:
				return nil, fmt.Errorf("property %s: want a string, got %T", name, v)
			}
			continue
		}
		p, ok := userProps[name]
		if !ok || v == nil {
			extra[name] = v
			continue
		}
		if p.fixed {
			return nil, fmt.Errorf("property %s is read-only", name)
		}
		if err := writeProp(u, p, name, v); err != nil {
			return nil, err
		}
	}
	if ext != nil {
		u.SetOnPremisesExtensionAttributes(ext)
	}
	if len(extra) > 0 {
		data := u.GetAdditionalData()
		for k, v := range extra {
			data[k] = v
		}
	}
	return u, nil
}

func writeProp(u models.Userable, p userProp, name string, v any) error {
	bad := func() error { return fmt.Errorf("property %s: unexpected value type %T", name, v) }
	switch {
	case p.setS != nil:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		p.setS(u, &s)
	case p.setB != nil:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		p.setB(u, &b)
	case p.setL != nil:
		l, ok := v.([]string)
		if !ok {
			return bad()
		}
		p.setL(u, l)
	case p.setT != nil:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("property %s: %w", name, err)
		}
		p.setT(u, &t)
	default:
		return bad()
	}
	return nil
}
