package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/presenced/presenced/node/nodetest"
)

// openAPIPath is the project's own description of the API, relative to this
// package's directory (where go test runs).
const openAPIPath = "../../docs/openapi.yaml"

// openAPI is the loaded description and a validator built from it. Building
// it takes a moment, so the black-box tests share one; the validator is
// used under a lock because its caches are not documented as safe for
// concurrent use.
type openAPI struct {
	mu        sync.Mutex
	doc       libopenapi.Document
	model     *v3.Document
	validator validator.Validator
	schemas   schema_validation.SchemaValidator
}

var loadOpenAPI = sync.OnceValues(func() (*openAPI, error) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, err
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return &openAPI{doc: doc, model: &m.Model, validator: v, schemas: schema_validation.NewSchemaValidator()}, nil
})

// spec returns the shared description, failing the test if it does not load.
func spec(t testing.TB) *openAPI {
	t.Helper()
	o, err := loadOpenAPI()
	if err != nil {
		t.Fatalf("load %s: %v", openAPIPath, err)
	}
	return o
}

// api is the client of the black-box suite: every exchange it makes is
// checked against docs/openapi.yaml by checkExchange.
var api = &nodetest.Client{HTTP: &http.Client{Timeout: 30 * time.Second}, Check: checkExchange}

// checkExchange fails the test when an exchange does not match the OpenAPI
// description:
//   - every response is application/json (but /metrics) and
//     Cache-Control: no-store, and carries Access-Control-Allow-Origin: *
//     when the request is a CORS one (it has an Origin header, or is a
//     preflight) and no CORS header otherwise;
//   - a response to a documented operation must be one it documents, with
//     the body and headers it documents;
//   - a request the description rejects must not succeed (the server may not
//     be laxer than its description);
//   - a path the description does not list must answer 404 M_UNRECOGNIZED, a
//     method it does not list on a listed path 405 M_UNRECOGNIZED, each with
//     the error body of the description.
func checkExchange(t testing.TB, req *http.Request, reqBody []byte, resp *nodetest.Response) {
	t.Helper()
	o := spec(t)
	what := req.Method + " " + req.URL.RequestURI()
	if ct := resp.Header.Get("Content-Type"); req.URL.Path != "/metrics" && ct != "application/json" {
		t.Errorf("openapi: %s: Content-Type %q, want application/json", what, ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("openapi: %s: Cache-Control %q, want no-store", what, cc)
	}
	_, origin := req.Header["Origin"]
	if got, ok := resp.Header["Access-Control-Allow-Origin"]; origin || req.Method == http.MethodOptions {
		if len(got) != 1 || got[0] != "*" {
			t.Errorf("openapi: %s with Origin: Access-Control-Allow-Origin %q, want *", what, got)
		}
	} else if ok {
		t.Errorf("openapi: %s without Origin: Access-Control-Allow-Origin %q, want none", what, got)
	}

	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	hr := &http.Response{
		StatusCode: resp.Status,
		Header:     resp.Header,
		Body:       io.NopCloser(bytes.NewReader(resp.Body)),
		Request:    r,
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	reqOK, reqErrs := o.validator.ValidateHttpRequestSync(r)
	for _, e := range reqErrs {
		if e.ValidationType == helpers.PathValidation && e.ValidationSubType == helpers.ValidationMissing {
			o.expectError(t, what, resp, http.StatusNotFound, "Unrecognized")
			return
		}
		if e.ValidationType == helpers.PathValidation && e.ValidationSubType == helpers.ValidationMissingOperation {
			o.expectError(t, what, resp, http.StatusMethodNotAllowed, "MethodNotAllowed")
			return
		}
	}
	if !reqOK && resp.Status < 300 {
		t.Errorf("openapi: %s: the description rejects this request, but the server answered %d:%s",
			what, resp.Status, describe(reqErrs))
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if ok, errs := o.validator.ValidateHttpResponse(r, hr); !ok {
		t.Errorf("openapi: %s: response %d %s does not match the description:%s", what, resp.Status, resp.Body, describe(errs))
	}
}

// expectError checks an answer to a request outside the documented
// operations against the components.responses entry named response.
func (o *openAPI) expectError(t testing.TB, what string, resp *nodetest.Response, status int, response string) {
	t.Helper()
	if resp.Status != status {
		t.Errorf("openapi: %s is not documented; answered %d, want %d", what, resp.Status, status)
		return
	}
	ro, ok := o.model.Components.Responses.Get(response)
	if !ok {
		t.Fatalf("openapi: components.responses.%s is missing", response)
	}
	media, ok := ro.Content.Get("application/json")
	if !ok || media.Schema == nil {
		t.Fatalf("openapi: components.responses.%s has no application/json schema", response)
	}
	for name, h := range ro.Headers.FromOldest() {
		if h.Required && resp.Header.Get(name) == "" {
			t.Errorf("openapi: %s: %d without the %s header components.responses.%s requires", what, resp.Status, name, response)
		}
	}
	if ok, errs := o.schemas.ValidateSchemaBytes(media.Schema.Schema(), resp.Body); !ok {
		t.Errorf("openapi: %s: %d %s does not match components.responses.%s:%s", what, resp.Status, resp.Body, response, describe(errs))
	}
}

func describe(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n\t")
		b.WriteString(e.Message)
		if e.Reason != "" {
			b.WriteString(": ")
			b.WriteString(e.Reason)
		}
		for _, f := range e.SchemaValidationErrors {
			b.WriteString("\n\t\t")
			b.WriteString(f.Error())
		}
	}
	return b.String()
}

// schemaOf returns a named schema of the description (for tests of the
// description itself).
func (o *openAPI) schemaOf(t testing.TB, name string) *base.Schema {
	t.Helper()
	sp, ok := o.model.Components.Schemas.Get(name)
	if !ok {
		t.Fatalf("openapi: components.schemas.%s is missing", name)
	}
	return sp.Schema()
}

// TestOpenAPIDocument checks that docs/openapi.yaml is a valid OpenAPI 3.1
// document and that it describes both API versions and the probes.
func TestOpenAPIDocument(t *testing.T) {
	o := spec(t)
	if ok, errs := o.validator.ValidateDocument(); !ok {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document:%s", describe(errs))
	}
	if v := o.model.Version; v != "3.1.0" {
		t.Errorf("openapi version %q, want 3.1.0", v)
	}
	for _, p := range []string{
		"/_matrix/client/v3/presence/{userId}/status",
		"/_matrix/client/r0/presence/{userId}/status",
		"/healthz", "/readyz",
	} {
		item, ok := o.model.Paths.PathItems.Get(p)
		if !ok || item.Get == nil {
			t.Errorf("path %s with GET is not described", p)
		}
	}
	for _, name := range []string{"accessTokenBearer", "accessTokenQuery"} {
		if _, ok := o.model.Components.SecuritySchemes.Get(name); !ok {
			t.Errorf("security scheme %s is missing", name)
		}
	}
	errSchema := o.schemaOf(t, "Error")
	for body, want := range map[string]bool{
		`{"errcode":"M_NOT_FOUND","error":"x"}`: true,
		`{"errcode":"M_NOT_FOUND"}`:             false,
		`{"error":"x"}`:                         false,
	} {
		if ok, _ := o.schemas.ValidateSchemaString(errSchema, body); ok != want {
			t.Errorf("Error schema on %s: valid=%v, want %v", body, ok, want)
		}
	}
	rl := o.schemaOf(t, "RateLimitError")
	for body, want := range map[string]bool{
		`{"errcode":"M_LIMIT_EXCEEDED","error":"x","retry_after_ms":1500}`: true,
		`{"errcode":"M_LIMIT_EXCEEDED","error":"x"}`:                       false,
		`{"errcode":"M_FORBIDDEN","error":"x","retry_after_ms":1}`:         false,
	} {
		if ok, _ := o.schemas.ValidateSchemaString(rl, body); ok != want {
			t.Errorf("RateLimitError schema on %s: valid=%v, want %v", body, ok, want)
		}
	}
	st := o.schemaOf(t, "PresenceState")
	for body, want := range map[string]bool{
		`{"presence":"online","last_active_ago":5,"currently_active":true}`:   true,
		`{"presence":"online","last_active_ago":5}`:                           false,
		`{"presence":"offline","last_active_ago":5,"currently_active":false}`: false,
		`{"presence":"unavailable","last_active_ago":5,"status_msg":"x"}`:     true,
		`{"presence":"unavailable","last_active_ago":5,"status_msg":null}`:    false,
		`{"presence":"unavailable","last_active_ago":-1}`:                     false,
	} {
		if ok, _ := o.schemas.ValidateSchemaString(st, body); ok != want {
			t.Errorf("PresenceState schema on %s: valid=%v, want %v", body, ok, want)
		}
	}
}

// recordingTB records the failures checkExchange reports instead of failing.
type recordingTB struct {
	testing.TB
	failures []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// TestCheckExchangeCatchesMismatches proves that the OpenAPI check of the
// black-box suite fails on answers that break the description, and passes
// on ones that keep it.
func TestCheckExchangeCatchesMismatches(t *testing.T) {
	const base = "http://127.0.0.1:8008"
	jsonHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Access-Control-Allow-Origin": {"*"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	cases := []struct {
		name         string
		method, path string
		reqBody      string
		status       int
		header       http.Header
		body         string
		wantFailure  bool
	}{
		{"valid GET", "GET", nodetest.PresencePath(alice), "", 200, jsonHeader(),
			`{"presence":"online","last_active_ago":5,"currently_active":true}`, false},
		{"valid GET r0", "GET", "/_matrix/client/r0/presence/%40alice%3Aexample.org/status", "", 200, jsonHeader(),
			`{"presence":"offline","last_active_ago":5}`, false},
		{"currently_active missing when online", "GET", nodetest.PresencePath(alice), "", 200, jsonHeader(),
			`{"presence":"online","last_active_ago":5}`, true},
		{"status_msg null", "GET", nodetest.PresencePath(alice), "", 200, jsonHeader(),
			`{"presence":"offline","last_active_ago":5,"status_msg":null}`, true},
		{"undocumented status", "GET", nodetest.PresencePath(alice), "", 500, jsonHeader(),
			`{"errcode":"M_UNKNOWN","error":"x"}`, true},
		{"wrong errcode for 401", "GET", nodetest.PresencePath(alice), "", 401, jsonHeader(),
			`{"errcode":"M_FORBIDDEN","error":"x"}`, true},
		{"503 without Retry-After", "GET", nodetest.PresencePath(alice), "", 503, jsonHeader(),
			`{"errcode":"M_UNKNOWN","error":"x"}`, true},
		{"503 with Retry-After", "GET", nodetest.PresencePath(alice), "", 503, jsonHeader("Retry-After", "1"),
			`{"errcode":"M_UNKNOWN","error":"x"}`, false},
		{"text/plain", "GET", nodetest.PresencePath(alice), "", 200,
			http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"no-store"}, "Access-Control-Allow-Origin": {"*"}},
			`{"presence":"offline","last_active_ago":5}`, true},
		{"no CORS", "GET", nodetest.PresencePath(alice), "", 200, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}},
			`{"presence":"offline","last_active_ago":5}`, true},
		{"cacheable", "GET", nodetest.PresencePath(alice), "", 200, http.Header{"Content-Type": {"application/json"}, "Access-Control-Allow-Origin": {"*"}},
			`{"presence":"offline","last_active_ago":5}`, true},
		{"invalid body accepted", "PUT", nodetest.PresencePath(alice), `{"presence":"busy"}`, 200, jsonHeader(), `{}`, true},
		{"invalid body refused", "PUT", nodetest.PresencePath(alice), `{"presence":"busy"}`, 400, jsonHeader(),
			`{"errcode":"M_INVALID_PARAM","error":"x"}`, false},
		{"PUT answers more than {}", "PUT", nodetest.PresencePath(alice), `{"presence":"online"}`, 200, jsonHeader(),
			`{"presence":"online"}`, true},
		{"unknown path answers M_UNRECOGNIZED", "GET", "/_matrix/client/v3/nothing", "", 404, jsonHeader(),
			`{"errcode":"M_UNRECOGNIZED","error":"x"}`, false},
		{"unknown path answers M_NOT_FOUND", "GET", "/_matrix/client/v3/nothing", "", 404, jsonHeader(),
			`{"errcode":"M_NOT_FOUND","error":"x"}`, true},
		{"invalid user ID accepted", "GET", "/_matrix/client/v3/presence/nope/status", "", 200, jsonHeader(),
			`{"presence":"offline","last_active_ago":5}`, true},
		{"encoded user ID with slash", "GET", "/_matrix/client/v3/presence/%40we%2Fird.user%3Aexample.org/status", "", 200, jsonHeader(),
			`{"presence":"offline","last_active_ago":5}`, false},
		{"wrong method answers 405", "POST", nodetest.PresencePath(alice), "", 405, jsonHeader("Allow", "GET, PUT, OPTIONS"),
			`{"errcode":"M_UNRECOGNIZED","error":"x"}`, false},
		{"405 without Allow", "POST", nodetest.PresencePath(alice), "", 405, jsonHeader(),
			`{"errcode":"M_UNRECOGNIZED","error":"x"}`, true},
		{"wrong method answers 404", "POST", nodetest.PresencePath(alice), "", 404, jsonHeader(),
			`{"errcode":"M_UNRECOGNIZED","error":"x"}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.reqBody != "" {
				body = strings.NewReader(c.reqBody)
			}
			req, err := http.NewRequest(c.method, base+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			req.Header.Set("Origin", "https://app.example.org")
			if c.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := &recordingTB{TB: t}
			resp := &nodetest.Response{Status: c.status, Header: c.header, Body: []byte(c.body)}
			_ = json.Unmarshal(resp.Body, &resp.JSON)
			checkExchange(rec, req, []byte(c.reqBody), resp)
			if got := len(rec.failures) > 0; got != c.wantFailure {
				t.Errorf("check failed=%v, want %v; failures: %v", got, c.wantFailure, rec.failures)
			}
		})
	}
}

// TestCheckExchangeCORSRule: the check wants the CORS header on answers to
// requests with an Origin header and on preflights, and on no other answer.
func TestCheckExchangeCORSRule(t *testing.T) {
	withCORS := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Access-Control-Allow-Origin": {"*"}}
	without := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	for _, c := range []struct {
		name        string
		method      string
		origin      bool
		header      http.Header
		wantFailure bool
	}{
		{"Origin, CORS header", http.MethodGet, true, withCORS, false},
		{"Origin, none", http.MethodGet, true, without, true},
		{"no Origin, none", http.MethodGet, false, without, false},
		{"no Origin, CORS header", http.MethodGet, false, withCORS, true},
		{"preflight without Origin, CORS header", http.MethodOptions, false, withCORS, false},
		{"preflight without Origin, none", http.MethodOptions, false, without, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://127.0.0.1:8008/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.origin {
				req.Header.Set("Origin", "https://app.example.org")
			}
			header, body := c.header.Clone(), `{"status":"ok"}`
			if c.method == http.MethodOptions {
				header.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
				header.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
				body = `{}`
			}
			rec := &recordingTB{TB: t}
			resp := &nodetest.Response{Status: 200, Header: header, Body: []byte(body)}
			_ = json.Unmarshal(resp.Body, &resp.JSON)
			checkExchange(rec, req, nil, resp)
			if got := len(rec.failures) > 0; got != c.wantFailure {
				t.Errorf("check failed=%v, want %v; failures: %v", got, c.wantFailure, rec.failures)
			}
		})
	}
}
