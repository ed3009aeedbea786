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
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
