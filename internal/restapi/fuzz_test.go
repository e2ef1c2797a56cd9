package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dialtone/dialtone/internal/call"
	"github.com/dialtone/dialtone/internal/switchboard"
	"github.com/dialtone/dialtone/protocol"
)

// carryingBackend is a Backend that carries out every request it is given, and counts them.
type carryingBackend struct{ requests int }

func (b *carryingBackend) Invite(context.Context, call.Invite, string) (switchboard.Result, error) {
	b.requests++
	return switchboard.Result{}, nil
}

func (b *carryingBackend) Do(context.Context, string, call.Input, string) (switchboard.Result, error) {
	b.requests++
	return switchboard.Result{}, nil
}

func (b *carryingBackend) QueryCall(context.Context, string, string) (call.Call, error) {
	b.requests++
	return call.Call{}, nil
}

func (b *carryingBackend) ListCalls(context.Context, string, int, int64) ([]call.Call, int64, error) {
	b.requests++
	return nil, 0, nil
}

func (b *carryingBackend) LogoutUser(context.Context, string) error {
	b.requests++
	return nil
}

// bodyEndpoints are the endpoints that read a body.
var bodyEndpoints = []string{
	Prefix + "calls", Prefix + "calls/c1/accept", Prefix + "calls/c1/reject", Prefix + "calls/c1/cancel",
	Prefix + "calls/c1/end", Prefix + "users/alice/logout",
}

// FuzzRequestBody posts arbitrary bodies to the endpoints that read one, with a backend that
// carries out whatever reaches it, and checks that the API never panics and that every body it
// refuses is refused with a coded error: 6000001, with 400, or 413 for a body over 64 KiB
// (docs/api.md), before the backend is asked. A body that is neither empty nor a JSON object
// in UTF-8 is always refused.
func FuzzRequestBody(f *testing.F) {
	for i, body := range []string{
		`{"userID":"alice","invitees":["bob"],"config":{"timeout":30,"mode":1}}`,
		`{"userID":"alice","config":{"extendedData":"x","pushConfig":{"title":"t"}}}`,
		`{"userID":"alice"}`,
		`{"userID":"alice","invitees":["bob",null]}`,
		`{"userID":"alice","config":{"extendedData":"x"},"config":{"pushConfig":{"title":1}}}`,
		`{"userID":"alice","invitees":[]}`,
		`{"userID":"alice","userID":5}`,
		"",
	} {
		f.Add(uint8(i), []byte(body))
	}
	for _, body := range []string{
		`{"userID":"alice","invitees":["bob"],"config":{"timeout":9007199254740992}}`,
		`{"userID":"alice","invitees":["bob"],"config":{"timeout":1.5,"mode":-1}}`,
		"{\"userID\":\"al\xffice\",\"invitees\":[\"bob\"]}",
		`{"userID":"alice","invitees":["bob"]}{}`,
		`{"userID":"alice","config":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
		`[]`, `null`, " \n",
	} {
		f.Add(uint8(0), []byte(body))
	}
	backend := &carryingBackend{}
	h := Routes(http.NewServeMux(), Config{APIKey: "key", ValidUserID: func(id string) bool { return id != "" },
		Backend: backend, Sessions: &recordedSessions{}})
	f.Fuzz(func(t *testing.T, endpoint uint8, body []byte) {
		path := bodyEndpoints[int(endpoint)%len(bodyEndpoints)]
		backend.requests = 0
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer key")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			if !emptyOrObject(body) {
				t.Fatalf("POST %s %q answered 200, want a refusal", path, body)
			}
			return
		}
		var answer errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Error.Code != protocol.CodeInvalidParameter {
			t.Fatalf("POST %s %q answered %d %q (%v), want a coded 6000001", path, body, rec.Code, rec.Body, err)
		}
		want := http.StatusBadRequest
		if len(body) > maxBody {
			want = http.StatusRequestEntityTooLarge
		}
		if rec.Code != want || backend.requests > 0 {
			t.Fatalf("POST %s %q answered %d having asked the backend %d times, want %d before asking it",
				path, body, rec.Code, backend.requests, want)
		}
	})
}

// emptyOrObject reports whether body is a body the API may take: empty, or one JSON object in
// UTF-8 with white space around it.
func emptyOrObject(body []byte) bool {
	trimmed := bytes.Trim(body, " \t\r\n")
	return len(body) == 0 || len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) && utf8.Valid(trimmed)
}

// FuzzQuery sends arbitrary queries to the endpoints that read one and checks that the API
// never panics, and that a query is either taken, when it parses and gives each parameter the
// endpoint reads at most once, and its integers as JSON writes them, or refused with 400 and
// 6000001 before the backend is asked (docs/api.md).
func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		"userID=bob", "count=5&nextFlag=9007199254740991", "count=-1", "count=1.5", "count=9007199254740992",
		"userID=a&userID=b", "userID=%zz", "userID=a;count=1", "count=%2B5", "count=05", "nextFlag=-0", "count=0x10", "",
	} {
		f.Add(q)
	}
	backend := &carryingBackend{}
	h := Routes(http.NewServeMux(), Config{APIKey: "key", ValidUserID: func(id string) bool { return id != "" },
		Backend: backend, Sessions: &recordedSessions{}})
	f.Fuzz(func(t *testing.T, query string) {
		for path, params := range map[string][]string{
			Prefix + "calls/c1":          {"userID"},
			Prefix + "users/alice/calls": {"count", "nextFlag"},
		} {
			backend.requests = 0
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = query
			req.Header.Set("Authorization", "Bearer key")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusOK {
				if values, err := url.ParseQuery(query); err != nil || repeatsAParameter(values, params) || !integersAsJSON(values, path) {
					t.Fatalf("GET %s?%s answered 200, want a refusal", path, query)
				}
				continue
			}
			var answer errorBody
			err := json.Unmarshal(rec.Body.Bytes(), &answer)
			if err != nil || rec.Code != http.StatusBadRequest || answer.Error.Code != protocol.CodeInvalidParameter || backend.requests > 0 {
				t.Fatalf("GET %s?%s answered %d %q (%v) having asked the backend %d times, want 400 and 6000001 before asking it",
					path, query, rec.Code, rec.Body, err, backend.requests)
			}
		}
	})
}

// integersAsJSON reports whether the integers of the query of path (count and nextFlag, which
// only the list of a user's calls reads) are absent, or integers from 0 to 2^53-1 written as
// JSON writes them.
func integersAsJSON(values url.Values, path string) bool {
	if !strings.HasSuffix(path, "/calls") {
		return true
	}
	for _, name := range []string{"count", "nextFlag"} {
		v := values.Get(name)
		var n int64
		if v != "" && (strings.TrimSpace(v) != v || json.Unmarshal([]byte(v), &n) != nil || n < 0 || n > protocol.MaxInteger) {
			return false
		}
	}
	return true
}

// repeatsAParameter reports whether one of the parameters params is given more than once.
func repeatsAParameter(values url.Values, params []string) bool {
	for _, name := range params {
		if len(values[name]) > 1 {
			return true
		}
	}
	return false
}
