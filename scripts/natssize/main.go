// Command natssize writes N users through a presenced node's API, one PUT
// each over 32 connections, for scripts/natssize.sh. It also serves a
// stand-in whoami on 127.0.0.1:18448 (token tN is @userN:localhost) so the
// node can run with --auth homeserver instead of a tokens file of N lines.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: natssize BASE-URL USERS")
		os.Exit(2)
	}
	base := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go func() {
		_ = http.ListenAndServe("127.0.0.1:18448", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"user_id":"@user%s:localhost"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer t"))
		}))
	}()
	time.Sleep(200 * time.Millisecond)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"presence":"online","status_msg":"status message of user %d"}`, i)
				url := fmt.Sprintf("%s/_matrix/client/v3/presence/%%40user%d%%3Alocalhost/status", base, i)
				req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
				req.Header.Set("Authorization", fmt.Sprintf("Bearer t%d", i))
				resp, err := client.Do(req)
				if err != nil {
					fmt.Fprintln(os.Stderr, "PUT:", err)
					os.Exit(1)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fmt.Fprintln(os.Stderr, "PUT answered", resp.StatusCode)
					os.Exit(1)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	fmt.Printf("%d PUTs in %v\n", n, time.Since(start).Round(time.Millisecond))
}
