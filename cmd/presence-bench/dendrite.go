package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// dendriteVersion is the peer the harness compares with: the last
// Apache-2.0 release, built by scripts/dendrite.sh.
const dendriteVersion = "v0.13.8"

// dendriteServer is a Dendrite monolith on SQLite with presence on and its
// rate limit off, and the accounts registered on it.
type dendriteServer struct {
	addr   string
	tokens []string
	proc   *proc
}

// dendriteBin is the directory of the Dendrite commands: built by
// scripts/dendrite.sh when -dendrite is on; with -dendrite cached, only
// where that script caches them, and "" if they are not there.
func (r *run) dendriteBin(ctx context.Context) (string, error) {
	if r.cfg.dendrite == "cached" {
		bin := os.Getenv("PRESENCED_DENDRITE_BIN")
		if bin == "" {
			cache := os.Getenv("XDG_CACHE_HOME")
			if cache == "" {
				home, _ := os.UserHomeDir()
				cache = filepath.Join(home, ".cache")
			}
			bin = filepath.Join(cache, "presenced", "dendrite-"+dendriteVersion, "bin")
		}
		for _, c := range []string{"dendrite", "generate-config", "generate-keys"} {
			if _, err := os.Stat(filepath.Join(bin, c)); err != nil {
				return "", nil
			}
		}
		return bin, nil
	}
	r.logf("building Dendrite %s if needed (scripts/dendrite.sh)", dendriteVersion)
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(r.repo, "scripts", "dendrite.sh"))
	cmd.Stderr = r.log
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/dendrite.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startDendrite starts Dendrite as /work/shared/reference/dendrite.md
// describes and registers users accounts (with a low bcrypt cost, which
// only speeds up registration). It returns nil when -dendrite cached finds
// no build.
func (r *run) startDendrite(ctx context.Context, users int) (*dendriteServer, error) {
	bin, err := r.dendriteBin(ctx)
	if err != nil || bin == "" {
		return nil, err
	}
	dir := filepath.Join(r.dir, "dendrite")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %s", name, err, stderr.Bytes())
		}
		return out, nil
	}
	key := filepath.Join(dir, "matrix_key.pem")
	if _, err := run("generate-keys", "--private-key", key); err != nil {
		return nil, err
	}
	raw, err := run("generate-config", "-dir", dir, "-server", benchServerName)
	if err != nil {
		return nil, err
	}
	const secret = "presence-bench-shared-secret"
	conf, err := dendriteConfig(raw, key, secret)
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "dendrite.yaml")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d := &dendriteServer{addr: addr}
	if d.proc, err = r.procs.start("dendrite", filepath.Join(bin, "dendrite"), []string{"-config", confPath, "-http-bind-address", addr}); err != nil {
		return nil, err
	}
	if _, err := d.proc.waitHTTP(ctx, "http://"+addr+"/_matrix/client/versions", 2*time.Minute); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if d.tokens, err = registerDendrite(ctx, addr, secret, users); err != nil {
		return nil, err
	}
	r.logf("Dendrite on %s: %d accounts registered in %.1fs", addr, users, time.Since(t0).Seconds())
	return d, nil
}

// dendriteConfig edits the generated configuration: presence on, rate
// limit, federation and server notices off, registration by shared secret.
func dendriteConfig(raw []byte, key, secret string) ([]byte, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	var missing error
	section := func(m map[string]any, k string) map[string]any {
		s, ok := m[k].(map[string]any)
		if !ok {
			missing = fmt.Errorf("the generated Dendrite config has no %s section", k)
			return map[string]any{}
		}
		return s
	}
	global := section(cfg, "global")
	global["private_key"] = key
	global["disable_federation"] = true
	section(global, "presence")["enable_inbound"] = true
	section(global, "presence")["enable_outbound"] = true
	section(global, "server_notices")["enabled"] = false
	clientAPI := section(cfg, "client_api")
	clientAPI["registration_shared_secret"] = secret
	section(clientAPI, "rate_limiting")["enabled"] = false
	section(cfg, "user_api")["bcrypt_cost"] = 4
	cfg["logging"] = []any{map[string]any{"type": "std", "level": "warn"}}
	if missing != nil {
		return nil, missing
	}
	return yaml.Marshal(cfg)
}

// registerDendrite registers users accounts named as the harness's users
// through the shared-secret registration API and returns their tokens.
func registerDendrite(ctx context.Context, addr, secret string, users int) ([]string, error) {
	tokens := make([]string, users)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for i := w; i < users && ctx.Err() == nil; i += 8 {
				tok, err := registerOne(client, addr, secret, strings.TrimPrefix(strings.Split(userID(i), ":")[0], "@"))
				if err != nil {
					errs <- err
					return
				}
				tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return tokens, ctx.Err()
}

func registerOne(client *http.Client, addr, secret, user string) (string, error) {
	url := "http://" + addr + "/_synapse/admin/v1/register"
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := getJSON(client, url, &nonce); err != nil {
		return "", err
	}
	password := "bench-" + user
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(strings.Join([]string{nonce.Nonce, user, password, "notadmin"}, "\x00")))
	body, _ := json.Marshal(map[string]any{"nonce": nonce.Nonce, "username": user, "password": password,
		"admin": false, "mac": hex.EncodeToString(mac.Sum(nil))})
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("register %s on Dendrite: status %d %s %v", user, resp.StatusCode, out.Error, err)
	}
	return out.AccessToken, nil
}

func getJSON(client *http.Client, url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
