// Command bareget is the baseline of the GET benchmarks (cmd/presence-bench,
// scripts/bench-get.sh): a bare net/http handler that answers the presence
// GET with a map lookup and encoding/json, with no authentication, routing
// library, metrics or policy. Its body has presenced's fields
// (currently_active for an online user, as the Matrix spec's answer has).
// It holds -users users named by -user-format (the IDs the harness seeds
// presenced with) and @alice:localhost. -matrix-headers adds the headers
// presenced answers with beyond Content-Type (Cache-Control, and
// Access-Control-Allow-Origin when the request has an Origin header), so
// that the answer is presenced's byte for byte: it tells what the answer's
// bytes cost from what presenced's code does.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"
)

type state struct {
	Presence        string `json:"presence"`
	LastActiveAgo   int64  `json:"last_active_ago"`
	StatusMsg       string `json:"status_msg,omitempty"`
	CurrentlyActive bool   `json:"currently_active"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "listen address")
	users := flag.Int("users", 10000, "users in the map")
	format := flag.String("user-format", "@user%07d:example.org", "fmt pattern of the i-th user ID")
	msg := flag.String("status-msg", "", "status message of every user")
	matrixHeaders := flag.Bool("matrix-headers", false, "answer with presenced's headers beside Content-Type: Cache-Control, and Access-Control-Allow-Origin to a request with Origin")
	flag.Parse()
	m := make(map[string]state, *users+1)
	for i := 0; i < *users; i++ {
		m[fmt.Sprintf(*format, i)] = state{Presence: "online", StatusMsg: *msg}
	}
	m["@alice:localhost"] = state{Presence: "online", StatusMsg: "benchmarking"}
	start := time.Now()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_matrix/client/v3/presence/"), "/status")
		st, ok := m[id]
		if !ok {
			http.NotFound(w, r)
			return
		}
		st.LastActiveAgo = time.Since(start).Milliseconds()
		st.CurrentlyActive = st.LastActiveAgo < 60_000 // every user is online
		if *matrixHeaders {
			if _, origin := r.Header["Origin"]; origin { // presenced's rule
				w.Header().Set("Access-Control-Allow-Origin", "*")
			}
			w.Header().Set("Cache-Control", "no-store")
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
