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
func (o obj) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 64*len(o)+2)
	buf = append(buf, '{')
	for i, m := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		kb, err := json.Marshal(m.k)
		if err != nil {
			return nil, err
		}
		buf = append(buf, kb...)
		buf = append(buf, ':')
		vb, err := marshalValue(m.v)
		if err != nil {
			return nil, err
		}
		buf = append(buf, vb...)
	}
	buf = append(buf, '}')
	return buf, nil
}

func marshalValue(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return []byte("null"), nil
	case string:
		return json.Marshal(x)
	case bool:
		if x {
			return []byte("true"), nil
		}
		return []byte("false"), nil
	case obj:
		return x.MarshalJSON()
	case json.RawMessage:
		return x, nil
	}
	return json.Marshal(v)
}

func jsonResponse(status int, body any) response {
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{}`)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	return response{status: status, header: h, body: b}
}

func noContent() response { return response{status: http.StatusNoContent, header: http.Header{}} }
