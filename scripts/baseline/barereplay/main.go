// Command barereplay is the floor of the cold-start benchmark
// (cmd/presence-bench): it connects to NATS, replays the latest event of
// every subject of a stream with an ordered consumer, as a presenced node
// does at start, counts the messages without decoding them and exits when
// none are pending. It prints the count and the time since it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	start := time.Now()
	natsURL := flag.String("nats-url", nats.DefaultURL, "NATS server URL")
	stream := flag.String("stream", "PRESENCE", "stream name")
	filter := flag.String("filter", "presence.>", "subject filter")
	batch := flag.Int("batch", 65536, "pull batch size (presenced's)")
	flag.Parse()

	nc, err := nats.Connect(*natsURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, *stream)
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	if s.CachedInfo().State.Msgs > 0 {
		cons, err := js.OrderedConsumer(ctx, *stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{*filter},
			DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		})
		if err != nil {
			log.Fatal(err)
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(*batch))
		if err != nil {
			log.Fatal(err)
		}
		for {
			msg, err := it.Next()
			if err != nil {
				log.Fatal(err)
			}
			n++
			md, err := msg.Metadata()
			if err != nil {
				log.Fatal(err)
			}
			if md.NumPending == 0 {
				break
			}
		}
		it.Stop()
	}
	fmt.Printf("%d messages in %d µs\n", n, time.Since(start).Microseconds())
}
