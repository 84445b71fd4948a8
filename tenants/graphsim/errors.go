package graphsim

import (
	"encoding/json"
	"net/http"
	"time"
)

// Graph error codes used by the simulator (the ones Graph documents for the
// directory endpoints ctsync calls).
const (
	codeNotFound       = "Request_ResourceNotFound"
	codeBadRequest     = "Request_BadRequest"
	codeUnsupported    = "Request_UnsupportedQuery"
	codeDenied         = "Authorization_RequestDenied"
	codeInvalidToken   = "InvalidAuthenticationToken"
	codeThrottled      = "TooManyRequests"
	codeConflictKey    = "Request_MultipleObjectsWithSameKeyValue"
	codeSyncState      = "syncStateNotFound"
	codeInternal       = "generalException"
	codeServiceUnavail = "serviceNotAvailable"
	codeTimeout        = "timeout"
	codeBadGateway     = "badGateway"
	codeFailedDep      = "FailedDependency"
	codeMethodNotAllow = "Request_BadRequest"
)

// response is one Graph answer, built before it is written, so that $batch
// can embed it and the HTTP layer can add realism around it.
type response struct {
	status int
	header http.Header
	body   []byte // JSON, or nil for no body
}

// apiError is a Graph error before rendering.
type apiError struct {
	status  int
	code    string
	message string
	details []map[string]string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func notFound(id string) *apiError {
	return errf(http.StatusNotFound, codeNotFound,
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func badRequest(msg string) *apiError { return errf(http.StatusBadRequest, codeBadRequest, msg) }

// errorBody renders Graph's error JSON: {"error":{"code","message","innerError":{...}}}.
func errorBody(e *apiError, requestID string, now time.Time) []byte {
	inner := obj{
		{"date", now.UTC().Format("2006-01-02T15:04:05")},
		{"request-id", requestID},
		{"client-request-id", requestID},
	}
	o := obj{{"code", e.code}, {"message", e.message}}
	if len(e.details) > 0 {
		o = append(o, kv{"details", e.details})
	}
	o = append(o, kv{"innerError", inner})
	b, _ := json.Marshal(obj{{"error", o}})
	return b
}

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// obj is a JSON object whose members keep their order, so responses read
// like Graph's (@odata annotations first, then properties).
type obj []kv

// MarshalJSON writes the members in order.
func (o obj) MarshalJSON() ([]byte, error) { return appendJSON(make([]byte, 0, 64*len(o)+2), o) }

// appendJSON appends v as json.Marshal writes it, obj members in order.
// Objects and lists are written here in one pass (json.Marshal would
// re-validate and compact a Marshaler's output at every level of a page
// of users); plain strings are written directly and every other leaf goes
// through encoding/json, so the bytes are the same.
func appendJSON(buf []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return appendJSONString(buf, x)
	case bool:
		if x {
			return append(buf, "true"...), nil
		}
		return append(buf, "false"...), nil
	case obj:
		buf = append(buf, '{')
		var err error
		for i, m := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendJSONString(buf, m.k); err != nil {
				return nil, err
			}
			buf = append(buf, ':')
			if buf, err = appendJSON(buf, m.v); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case []any:
		if x == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendJSON(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	b, err := json.Marshal(v) // also compacts a json.RawMessage, as before
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// appendJSONString writes s quoted; anything encoding/json would escape
// (control characters, quotes, backslashes, <, >, &, non-ASCII such as
// U+2028 or invalid UTF-8) takes encoding/json's path.
func appendJSONString(buf []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, err := json.Marshal(s)
			if err != nil {
				return nil, err
			}
			return append(buf, b...), nil
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"'), nil
}

func jsonResponse(status int, body any) response {
	b, err := appendJSON(nil, body)
	if err != nil {
		b = []byte(`{}`)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	return response{status: status, header: h, body: b}
}

func noContent() response { return response{status: http.StatusNoContent, header: http.Header{}} }
