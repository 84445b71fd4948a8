package graphsim

import (
	"encoding/json"
	"math"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON: the one-pass writer produces the
// bytes encoding/json does for every shape responses use.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, "", "plain", `q"uote\back`, "<b>&amp;</b>", "caf\u00e9 \u2028 \u2029", "ctl\x01\n\t", "bad\xffutf8", "del\x7f",
		true, false, 42, 3.5, int64(-7), uint64(1) << 60,
		[]string{"a", "<"}, []string(nil), []any{}, []any(nil), []any{"x", obj{{"k", 1}}, nil},
		map[string]any{"z": 1, "a": "<"}, []map[string]string{{"b": "1", "a": "2"}},
		json.RawMessage(`{"a": [1, 2] , "b":"<"}`),
		obj{}, obj{{"@odata.context", "https://x/$metadata#users"}, {"value", []any{obj{{"id", "1"}, {"mail", nil}, {"otherMails", []string{}}}}}},
		obj{{"nested", obj{{"deep", obj{{"k\u00e9y<", "v"}}}}}, {"list", []obj{{{"a", true}}}}},
	}
	for _, v := range values {
		want, werr := json.Marshal(v)
		got, gerr := appendJSON(nil, v)
		if (werr != nil) != (gerr != nil) || string(got) != string(want) {
			t.Errorf("%#v: appendJSON %q (%v), json.Marshal %q (%v)", v, got, gerr, want, werr)
		}
	}
	if _, err := appendJSON(nil, obj{{"nan", math.NaN()}}); err == nil {
		t.Error("NaN: want an error, as json.Marshal gives")
	}
}
