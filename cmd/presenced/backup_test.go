package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

const backupUsers = 10000

// userState is what a GET answers for one user, with the window in which
// the user's last activity must lie (request times minus last_active_ago).
type userState struct {
	presence, statusMsg  string
	activeFrom, activeTo time.Time
}

// TestBackupRestore writes 10,000 users on a node with the embedded NATS,
// stops it, backs up its data directory, restores into a new external
// NATS server (with a password), starts a node there and finds every
// user's state unchanged, last activity included; then backs up from the
// external server and restores into a new embedded store, with the same
// result.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 users")
	}
	exe := buildPresenced(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	var tb strings.Builder
	for i := range backupUsers {
		fmt.Fprintf(&tb, "t%d: \"@u%d:example.org\"\n", i, i)
	}
	if err := os.WriteFile(tokens, []byte(tb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--listen", "127.0.0.1:0", "--tokens-file", tokens, "--server-name", "example.org"}
	dataA := filepath.Join(dir, "a")

	a := startPresenced(t, exe, append(common, "--data-dir", dataA)...)
	states := []string{"online", "unavailable", "offline"}
	parallel(t, func(i int) {
		body := fmt.Sprintf(`{"presence":%q}`, states[i%3])
		if i%2 == 0 {
			body = fmt.Sprintf(`{"presence":%q,"status_msg":"message %d"}`, states[i%3], i)
		}
		if st, m := backupCall(t, a, "PUT", backupUserPath(i), fmt.Sprintf("t%d", i), body); st != 200 {
			t.Errorf("PUT user %d: %d %v", i, st, m)
		}
	})
	before := readAllUsers(t, a)
	stopPresenced(t, a)
	stoppedAt := time.Now()

	run := func(cmd func([]string, func(string) string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := cmd(args, func(string) string { return "" }, &out, &errb)
		return code, out.String() + errb.String()
	}
	backupCmd := func(args []string, env func(string) string, out, errb *bytes.Buffer) int {
		return backup(args, env, out, errb)
	}
	restoreCmd := func(args []string, env func(string) string, out, errb *bytes.Buffer) int {
		return restore(args, env, out, errb)
	}

	bk1 := filepath.Join(dir, "backup-1")
	if code, out := run(backupCmd, "--data-dir", dataA, bk1); code != 0 || !strings.Contains(out, fmt.Sprintf("%d events", backupUsers)) {
		t.Fatalf("backup of the embedded store: exit %d: %s", code, out)
	}
	if code, out := run(backupCmd, "--data-dir", dataA, bk1); code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("second backup into the same directory: exit %d: %s", code, out)
	}

	// A new, external NATS server with a password.
	ext, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(dir, "ext"), Username: "presence", Password: "s3cret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ext.Start()
	t.Cleanup(func() { ext.Shutdown(); ext.WaitForShutdown() })
	if !ext.ReadyForConnections(10 * time.Second) {
		t.Fatal("external NATS server not ready")
	}
	extArgs := []string{"--nats-url", ext.ClientURL(), "--nats-user", "presence", "--nats-password", "s3cret"}
	if code, out := run(restoreCmd, append(extArgs, bk1)...); code != 0 || !strings.Contains(out, fmt.Sprintf("%d events", backupUsers)) {
		t.Fatalf("restore into the external server: exit %d: %s", code, out)
	}
	if code, out := run(restoreCmd, append(extArgs, bk1)...); code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("restore over an existing stream: exit %d: %s", code, out)
	}

	b := startPresenced(t, exe, append(append(common, extArgs...), "--data-dir", filepath.Join(dir, "unused"))...)
	compareUsers(t, "restored into the external server", before, readAllUsers(t, b), stoppedAt)

	bk2 := filepath.Join(dir, "backup-2")
	if code, out := run(backupCmd, append(extArgs, bk2)...); code != 0 {
		t.Fatalf("backup from the external server: exit %d: %s", code, out)
	}
	stopPresenced(t, b)
	dataC := filepath.Join(dir, "c")
	if code, out := run(restoreCmd, "--data-dir", dataC, bk2); code != 0 {
		t.Fatalf("restore into a new embedded store: exit %d: %s", code, out)
	}
	c := startPresenced(t, exe, append(common, "--data-dir", dataC)...)
	compareUsers(t, "restored into a new embedded store", before, readAllUsers(t, c), stoppedAt)

	if code, out := run(backupCmd, "--data-dir", dataC, filepath.Join(dir, "backup-3")); code != 1 || !strings.Contains(out, "in use") {
		t.Errorf("backup of a running node's data dir: exit %d: %s", code, out)
	}
}

// backupClient keeps a connection per worker of parallel alive.
var backupClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// backupCall sends one request to p and decodes the JSON answer.
func backupCall(t *testing.T, p *process, method, path, token, body string) (int, map[string]any) {
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := backupClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Errorf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, m
}

func backupUserPath(i int) string {
	return fmt.Sprintf("/_matrix/client/v3/presence/%%40u%d%%3Aexample.org/status", i)
}

// parallel runs f for every user index on 16 goroutines.
func parallel(t *testing.T, f func(i int)) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range backupUsers {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// readAllUsers GETs every user's presence from p.
func readAllUsers(t *testing.T, p *process) []userState {
	t.Helper()
	out := make([]userState, backupUsers)
	parallel(t, func(i int) {
		start := time.Now()
		st, m := backupCall(t, p, "GET", backupUserPath(i), "t0", "")
		end := time.Now()
		if st != 200 {
			t.Errorf("GET user %d: %d %v", i, st, m)
			return
		}
		ago := time.Duration(m["last_active_ago"].(float64)) * time.Millisecond
		msg, _ := m["status_msg"].(string)
		out[i] = userState{presence: m["presence"].(string), statusMsg: msg,
			activeFrom: start.Add(-ago - time.Millisecond), activeTo: end.Add(-ago)}
	})
	return out
}

// compareUsers checks that every user reads as before: same presence and
// message, and a last activity that is the original one (its windows
// overlap) and lies before the first node stopped (a re-published event
// would carry a later store time).
func compareUsers(t *testing.T, what string, before, after []userState, stoppedAt time.Time) {
	t.Helper()
	const slack = 2 * time.Millisecond
	bad := 0
	for i := range before {
		x, y := before[i], after[i]
		ok := x.presence == y.presence && x.statusMsg == y.statusMsg &&
			!y.activeFrom.After(x.activeTo.Add(slack)) && !x.activeFrom.After(y.activeTo.Add(slack)) &&
			y.activeFrom.Before(stoppedAt)
		if !ok {
			if bad < 5 {
				t.Errorf("%s: user %d was %+v, now %+v", what, i, x, y)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d users changed", what, bad, len(before))
	}
}

// stopPresenced stops p with SIGTERM and waits for it to exit 0.
func stopPresenced(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("presenced exit after SIGTERM: %v", err)
	}
}
