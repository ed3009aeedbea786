// Command barereplay is the floor of the cold-start benchmark
// (cmd/presence-bench): it connects to NATS, replays the latest event of
// every subject of a stream with an ordered consumer, as a presenced node
// does at start, counts the messages without decoding them and exits when
// none are pending. It prints the count and the time since it started.
//
// By default it reads with the client library's iterator (Messages, Next);
// -callback reads with its callback API (Consume) instead, which costs less
// per message and is what presenced uses.
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
	callback := flag.Bool("callback", false, "read with the callback API (Consume) rather than the iterator")
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
		if *callback {
			n = consume(cons, *batch)
			fmt.Printf("%d messages in %d µs\n", n, time.Since(start).Microseconds())
			return
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

// consume counts the messages with the callback API until none are pending.
func consume(cons jetstream.Consumer, batch int) int {
	n := 0
	done := make(chan struct{})
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		n++
		md, err := msg.Metadata()
		if err != nil {
			log.Fatal(err)
		}
		if md.NumPending == 0 {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}, jetstream.PullMaxMessages(batch))
	if err != nil {
		log.Fatal(err)
	}
	<-done
	cc.Stop()
	return n
}
