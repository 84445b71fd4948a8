package tenants

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctsync/ctsync/internal/directory"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Graph error codes ctsync acts on (compared exactly, case-insensitively).
const (
	CodeSyncStateNotFound = "syncStateNotFound"
	CodeResourceNotFound  = "Request_ResourceNotFound"
	CodeMultipleObjects   = "Request_MultipleObjectsWithSameKeyValue"
	// CodeObjectConflict is the error detail (or code) of a write that
	// collides with another object, e.g. a PATCH of mail to an address
	// another object holds in proxyAddresses.
	CodeObjectConflict = "ObjectConflict"
)

// GraphError is every failure of a Graph call, whatever the SDK returned:
// an OData error body, an empty or unparsable body, or no response at all.
// It is built once, at the boundary, by asGraphError, and classified only by
// Status and Code (never by Message).
type GraphError struct {
	// Tenant is the tenant's configured name.
	Tenant string
	// Op is the call, e.g. "PATCH /users/{id}".
	Op string
	// Status is the HTTP status; 0 when no response arrived.
	Status int
	// Code is Graph's error code ("Request_ResourceNotFound"), if any.
	Code string
	// Message is Graph's error message, for people only.
	Message string
	// RequestID is Graph's request-id, for support cases.
	RequestID string
	// RetryAfter is the server's Retry-After; 0 when absent.
	RetryAfter time.Duration
	// Throttle is x-ms-throttle-information (e.g. WriteLimitExceeded).
	Throttle string
	// Details are the codes of Graph's error details (e.g. ObjectConflict),
	// which say more than Code for some 400s.
	Details []string
	// Permission is, for a 403, what the operation needs: the application
	// permission to grant (and for user writes, the admin-role case), so
	// that the message tells an operator what to fix.
	Permission string
	// Err is the cause when Graph gave no answer (transport error, context
	// cancelled, credential failure). Never an SDK error value.
	Err error
	// OutOfTime: the call would have been retried, but its next try would
	// have come after the context's deadline; errors.Is matches it with
	// directory.ErrOutOfTime, so a caller tells work cut short by its
	// deadline from work that failed.
	OutOfTime bool
}

// Error describes the failure with tenant, operation, status and code.
func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant %q: %s: ", e.Tenant, e.Op)
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status))
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if e.Permission != "" {
			b.WriteString(" (needs " + e.Permission + ")")
		}
	} else if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	if e.Status != 0 && e.Err != nil {
		b.WriteString(" (" + e.Err.Error() + ")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request-id " + e.RequestID + "]")
	}
	return b.String()
}

// Summary is the error in one short line for logs at info: tenant,
// operation, status, Graph's code and the first line of its message, or
// the cause's own summary when Graph gave no answer (a credential's
// multi-line dump from Azure is condensed by CredentialError.Summary). The
// request ID and the details are left to Error, logged at debug.
func (e *GraphError) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant %q: %s: ", e.Tenant, e.Op)
	switch {
	case e.Status != 0:
		b.WriteString(strconv.Itoa(e.Status))
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if m := firstLine(e.Message); m != "" {
			b.WriteString(": " + m)
		}
	case e.Err != nil:
		var ce *CredentialError
		if errors.As(e.Err, &ce) {
			b.WriteString(ce.Summary())
		} else {
			b.WriteString(firstLine(e.Err.Error()))
		}
	default:
		b.WriteString("failed")
	}
	return b.String()
}

// summaryMax bounds a summary's message, in bytes.
const summaryMax = 300

// firstLine is the first non-blank line of s, trimmed and cut at
// summaryMax bytes (on a rune boundary), "…" marking what was cut.
func firstLine(s string) string {
	cut := false
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if l != strings.TrimSpace(s) {
				cut = true
			}
			s = l
			break
		}
	}
	if len(s) > summaryMax {
		n := summaryMax
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s, cut = s[:n], true
	}
	if cut {
		s += " …"
	}
	return s
}

// Unwrap returns the cause when Graph gave no answer, so that
// errors.Is(err, context.DeadlineExceeded) works.
func (e *GraphError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, directory.ErrX) answer as the predicate of the
// same name: the worker and the CLI classify with package directory's
// sentinels and never see this type. A sentinel matches exactly when the
// predicate holds (a 400 duplicate key is both ErrConflict and
// ErrBadRequest, a 429 both ErrThrottled and ErrTransient).
func (e *GraphError) Is(target error) bool {
	switch target {
	case directory.ErrOutOfTime:
		return e.OutOfTime
	case directory.ErrNotFound:
		return e.NotFound()
	case directory.ErrSyncStateExpired:
		return e.SyncStateExpired()
	case directory.ErrFatal:
		return e.Fatal()
	case directory.ErrForbidden:
		return e.Forbidden()
	case directory.ErrConflict:
		return e.Conflict()
	case directory.ErrThrottled:
		return e.Throttled()
	case directory.ErrTransient:
		return e.Transient()
	case directory.ErrBadRequest:
		return e.BadRequest()
	}
	return false
}

func (e *GraphError) codeIs(code string) bool { return strings.EqualFold(e.Code, code) }

// detailIs reports whether one of Graph's error details has code.
func (e *GraphError) detailIs(code string) bool {
	for _, d := range e.Details {
		if strings.EqualFold(d, code) {
			return true
		}
	}
	return false
}

// NotFound: 404 (the object does not exist, or not yet after a create).
func (e *GraphError) NotFound() bool { return e.Status == http.StatusNotFound }

// Throttled: 429.
func (e *GraphError) Throttled() bool { return e.Status == http.StatusTooManyRequests }

// Conflict: 409, Graph's duplicate-key code, or an ObjectConflict (as
// code or error detail: Graph's 400 for a mail another object holds in
// proxyAddresses).
func (e *GraphError) Conflict() bool {
	return e.Status == http.StatusConflict || e.codeIs(CodeMultipleObjects) ||
		e.codeIs(CodeObjectConflict) || e.detailIs(CodeObjectConflict)
}

// Forbidden: 403 (missing permission or consent).
func (e *GraphError) Forbidden() bool { return e.Status == http.StatusForbidden }

// Unauthorized: 401 (no or bad token).
func (e *GraphError) Unauthorized() bool { return e.Status == http.StatusUnauthorized }

// BadRequest: 400 other than an expired delta token.
func (e *GraphError) BadRequest() bool {
	return e.Status == http.StatusBadRequest && !e.SyncStateExpired()
}

// SyncStateExpired: the delta token is no longer valid (400
// syncStateNotFound, or 410 Gone): resync from scratch.
func (e *GraphError) SyncStateExpired() bool {
	return e.Status == http.StatusGone || e.codeIs(CodeSyncStateNotFound)
}

// Transient: worth retrying later (429, 5xx, or no response at all,
// unless the context ended or the credential was refused; a token
// endpoint that failed transiently is transient).
func (e *GraphError) Transient() bool {
	if e.Status == 0 {
		if e.Err == nil || errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) {
			return false
		}
		var ce *CredentialError
		return !errors.As(e.Err, &ce) || ce.Transient()
	}
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Fatal: the whole pair must stop (a credential refused by the authority,
// or a 401): retrying user by user cannot help. See IsFatal.
func (e *GraphError) Fatal() bool {
	return e.Unauthorized() || fatalCredential(e.Err)
}

func graphErr(err error) *GraphError {
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}

// IsNotFound reports whether err is a Graph 404.
func IsNotFound(err error) bool { ge := graphErr(err); return ge != nil && ge.NotFound() }

// IsThrottled reports whether err is a Graph 429.
func IsThrottled(err error) bool { ge := graphErr(err); return ge != nil && ge.Throttled() }

// IsConflict reports whether err is a Graph 409 or duplicate-key error.
func IsConflict(err error) bool { ge := graphErr(err); return ge != nil && ge.Conflict() }

// IsForbidden reports whether err is a Graph 403.
func IsForbidden(err error) bool { ge := graphErr(err); return ge != nil && ge.Forbidden() }

// IsUnauthorized reports whether err is a Graph 401.
func IsUnauthorized(err error) bool { ge := graphErr(err); return ge != nil && ge.Unauthorized() }

// IsBadRequest reports whether err is a Graph 400 (other than an expired
// delta token).
func IsBadRequest(err error) bool { ge := graphErr(err); return ge != nil && ge.BadRequest() }

// IsSyncStateExpired reports whether a delta link is no longer valid and
// the caller must start a full delta round again.
func IsSyncStateExpired(err error) bool {
	ge := graphErr(err)
	return ge != nil && ge.SyncStateExpired()
}

// IsTransient reports whether err is worth retrying later (429, 5xx,
// network failure).
func IsTransient(err error) bool { ge := graphErr(err); return ge != nil && ge.Transient() }

// asGraphError builds the one GraphError for a failed call. ex holds what
// the transport saw of the response (status and headers are taken from it
// first: the SDK loses them when a body cannot be parsed).
func asGraphError(err error, ex *exchange, tenant, op string) *GraphError {
	if ge := graphErr(err); ge != nil {
		return ge
	}
	ge := &GraphError{Tenant: tenant, Op: op}
	var hdr http.Header
	if ex != nil && ex.status != 0 {
		ge.Status, hdr = ex.status, ex.header
	}

	var odata *odataerrors.ODataError
	var apiErr abs.ApiErrorable
	switch {
	case errors.As(err, &odata):
		ge.Code, ge.Message, ge.RequestID = odataFields(odata)
		ge.Details = odataDetails(odata)
		if ge.Status == 0 {
			ge.Status, hdr = apiStatus(odata)
		}
	case errors.As(err, &apiErr):
		if ge.Status == 0 {
			ge.Status, hdr = apiStatus(apiErr)
		}
	default:
		if ge.Status == 0 {
			ge.Err = err // no response: a transport or credential failure
			var ce *CredentialError
			if errors.As(err, &ce) {
				ge.RetryAfter = ce.retryAfter // the authority's, when it asked
			}
		} else {
			// A response came but the SDK could not read it (e.g. an HTML
			// body): keep the SDK's text as the cause, status is what counts.
			ge.Err = errors.New(safeErrorText(err))
		}
	}
	if hdr != nil {
		if ge.RequestID == "" {
			ge.RequestID = hdr.Get("request-id")
		}
		ge.RetryAfter = parseRetryAfter(hdr.Get("Retry-After"), time.Now())
		ge.Throttle = hdr.Get("x-ms-throttle-information")
	}
	if ge.Forbidden() {
		ge.Permission = permissionFor(op)
	}
	return ge
}

// odataDetails reads the codes of an ODataError's details, nil-safely like
// odataFields.
func odataDetails(o *odataerrors.ODataError) (codes []string) {
	defer func() {
		if recover() != nil {
			codes = nil
		}
	}()
	if o == nil {
		return nil
	}
	main := o.GetErrorEscaped()
	if main == nil {
		return nil
	}
	for _, d := range main.GetDetails() {
		if d == nil {
			continue
		}
		if c := deref(d.GetCode()); c != "" {
			codes = append(codes, c)
		}
	}
	return codes
}

// userWritePermission is what a write to a user needs: Graph also refuses
// it with 403 when the user holds an admin role and the app holds no
// privileged directory role, whatever its permissions.
const userWritePermission = "application permission User.ReadWrite.All; " +
	"if granted, the user holds an admin role, and writing to it needs a privileged directory role for the app"

// permissionFor names the least-privileged application permission the
// operation op (as GraphError.Op spells it) needs, for 403 messages.
func permissionFor(op string) string {
	method, path, _ := strings.Cut(op, " ")
	path, _, _ = strings.Cut(path, "?")
	switch {
	case strings.HasPrefix(path, "/directory/deletedItems"):
		// Older pages list restore under User.ReadWrite.All; the
		// least-privileged one documented for both is this.
		return "application permission User.DeleteRestore.All"
	case path == "/invitations":
		return "application permission User.Invite.All"
	case path == "/domains" || strings.HasPrefix(path, "/domains/"):
		return "application permission Domain.Read.All"
	case strings.HasPrefix(path, "/groups") && method != "GET":
		return "application permission Group.ReadWrite.All"
	case strings.HasPrefix(path, "/groups"):
		return "application permission GroupMember.Read.All"
	case strings.HasPrefix(path, "/users") && method != "GET":
		return userWritePermission
	case strings.HasPrefix(path, "/users") || path == "/$batch":
		return "application permission User.Read.All (or User.ReadWrite.All)"
	}
	return ""
}

// odataFields reads code, message and request ID from an ODataError. The
// SDK's getters panic on values not built by its deserializer and any of
// the nested objects may be nil (msgraph-sdk-go#434), so every step is
// checked and a panic means "no fields".
func odataFields(o *odataerrors.ODataError) (code, msg, reqID string) {
	defer func() {
		if recover() != nil {
			code, msg, reqID = "", "", ""
		}
	}()
	if o == nil {
		return
	}
	main := o.GetErrorEscaped()
	if main == nil {
		return
	}
	code, msg = deref(main.GetCode()), deref(main.GetMessage())
	if inner := main.GetInnerError(); inner != nil {
		reqID = deref(inner.GetRequestId())
	}
	return
}

// apiStatus reads status and headers from a kiota ApiErrorable, nil-safely.
func apiStatus(e abs.ApiErrorable) (status int, h http.Header) {
	defer func() {
		if recover() != nil {
			status, h = 0, nil
		}
	}()
	status = e.GetStatusCode()
	if rh := e.GetResponseHeaders(); rh != nil {
		h = http.Header{}
		for _, k := range rh.ListKeys() {
			for _, v := range rh.Get(k) {
				h.Add(k, v)
			}
		}
	}
	return
}

// safeErrorText calls err.Error() without letting an SDK panic through.
func safeErrorText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("%T", err)
		}
	}()
	return err.Error()
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// IsFatal reports whether err stops a whole pair rather than one user:
// credential failures other than a transiently failing token endpoint, and
// 401 (retrying will not help until someone fixes the configuration or the
// secret). A 403 is not fatal: Graph refuses writes to some users (those
// holding admin roles) while allowing the rest, so it parks that user; an
// app missing a permission outright fails every user and the pair's
// failure ratio puts it in quarantine.
func IsFatal(err error) bool {
	return fatalCredential(err) || IsUnauthorized(err)
}
