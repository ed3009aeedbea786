// Command bareput is the baseline of the PUT benchmark (cmd/presence-bench):
// a bare net/http handler that decodes the presence PUT body with
// encoding/json, publishes the event to a JetStream stream with presenced's
// stream settings (file store, one message per subject, a duplicate window,
// a random Nats-Msg-Id per update) and answers 200 once the stream has
// acknowledged it. It has no authentication, routing library, metrics,
// limits or projection: it is what a PUT costs at least.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type putBody struct {
	Presence  string  `json:"presence"`
	StatusMsg *string `json:"status_msg"`
}

type event struct {
	V         int     `json:"v"`
	UserID    string  `json:"user_id"`
	Presence  string  `json:"presence"`
	StatusMsg *string `json:"status_msg,omitempty"`
	Origin    string  `json:"origin"`
	RequestID string  `json:"request_id"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8092", "listen address")
	natsURL := flag.String("nats-url", nats.DefaultURL, "NATS server URL")
	stream := flag.String("stream", "BAREPUT", "stream name")
	prefix := flag.String("subject-prefix", "bareput", "subject prefix")
	replicas := flag.Int("stream-replicas", 1, "stream replicas")
	flag.Parse()

	nc, err := nats.Connect(*natsURL)
	if err != nil {
		log.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              *stream,
		Subjects:          []string{*prefix + ".>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          *replicas,
		Duplicates:        2 * time.Minute,
		AllowDirect:       true,
	})
	cancel()
	if err != nil {
		log.Fatal(err)
	}

	http.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "PUT only", http.StatusMethodNotAllowed)
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_matrix/client/v3/presence/"), "/status")
		raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		var body putBody
		if err == nil {
			err = json.Unmarshal(raw, &body)
		}
		if err != nil || (body.Presence != "online" && body.Presence != "unavailable" && body.Presence != "offline") {
			http.Error(w, `{"errcode":"M_BAD_JSON","error":"bad body"}`, http.StatusBadRequest)
			return
		}
		var rid [16]byte
		_, _ = rand.Read(rid[:])
		reqID := hex.EncodeToString(rid[:])
		data, _ := json.Marshal(event{V: 1, UserID: id, Presence: body.Presence, StatusMsg: body.StatusMsg, Origin: "bareput", RequestID: reqID})
		subject := *prefix + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
		pctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		_, err = js.Publish(pctx, subject, data, jetstream.WithMsgID(reqID))
		cancel()
		if err != nil {
			http.Error(w, `{"errcode":"M_UNKNOWN","error":"publish failed"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
