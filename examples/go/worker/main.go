// Command worker processes the runs of an ActionQueue queue until interrupted (SIGINT or
// SIGTERM), then drains: it stops leasing, lets running handlers finish and reports them.
//
//	examples/go/run.sh worker
//
// The server address is ACTIONQUEUE_TARGET, default 127.0.0.1:50051 (what `npm start` serves).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actionqueue/actionqueue/clients/go/actionqueue"
)

func main() {
	queue := flag.String("queue", "examples", "queue to work on")
	concurrency := flag.Int("concurrency", 4, "runs handled at once")
	flag.Parse()
	target := os.Getenv("ACTIONQUEUE_TARGET")
	if target == "" {
		target = actionqueue.DefaultTarget
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := actionqueue.Dial(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	worker, err := client.NewWorker(actionqueue.WorkerOptions{
		Queues:      []string{*queue},
		Concurrency: *concurrency,
		Handler: func(ctx context.Context, job *actionqueue.Job) ([]byte, error) {
			var in struct{ N int }
			if err := json.Unmarshal(job.Payload, &in); err != nil {
				// Retrying cannot fix a malformed payload: fail the run for good.
				return nil, actionqueue.NonRetryable(fmt.Errorf("payload is not {\"n\": int}: %w", err))
			}
			select {
			case <-time.After(200 * time.Millisecond): // the "work"
			case <-ctx.Done(): // canceled, suspended, lease lost, or shutting down
				return nil, fmt.Errorf("interrupted: %v", actionqueue.StopCause(ctx))
			}
			log.Printf("run %s attempt %d: n=%d", job.RunID, job.Attempt, in.N)
			return []byte(fmt.Sprintf(`{"square":%d}`, in.N*in.N)), nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("worker on queue %q at %s (Ctrl-C to stop)", *queue, target)
	if err := worker.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	log.Print("worker stopped")
}
