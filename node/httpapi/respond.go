package httpapi

import (
	"encoding/json"
	"net/http"
)

// writeJSON answers with status and v as JSON. Every answer of the API,
// errors included, is application/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errcode":"M_UNKNOWN","error":"Internal server error"}`)
	}
	writeRawJSON(w, status, b)
}

var (
	contentTypeJSON = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// writeRawJSON answers with status and b, which must be JSON.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// setJSONHeaders sets the type and cache rule of every answer of the API.
// No answer may be cached: whether one carries the CORS header depends on
// the request (see chain).
func setJSONHeaders(h http.Header) {
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = noStore
}
