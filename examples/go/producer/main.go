// Command producer submits a few tasks to ActionQueue and, with -wait, follows them with a
// watch until every run is terminal, printing each outcome.
//
//	examples/go/run.sh producer -n 5 -wait
//
// The server address is ACTIONQUEUE_TARGET, default 127.0.0.1:50051 (what `npm start` serves).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/actionqueue/actionqueue/clients/go/actionqueue"
	pb "github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1"
)

func main() {
	queue := flag.String("queue", "examples", "queue to submit to")
	n := flag.Int("n", 3, "number of tasks")
	wait := flag.Bool("wait", false, "watch until every run is terminal and print its outcome")
	flag.Parse()
	target := os.Getenv("ACTIONQUEUE_TARGET")
	if target == "" {
		target = actionqueue.DefaultTarget
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client, err := actionqueue.Dial(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// Read the revision first, so the watch below misses no event of the runs we submit.
	stats, err := client.Admin.GetStats(ctx, &pb.GetStatsRequest{})
	if err != nil {
		log.Fatalf("cannot reach ActionQueue at %s: %v", target, err)
	}
	pending := map[string]bool{}
	for i := 1; i <= *n; i++ {
		payload := fmt.Sprintf(`{"n":%d}`, i)
		resp, err := client.Tasks.SubmitTask(ctx, &pb.SubmitTaskRequest{Spec: &pb.TaskSpec{
			Queue:       *queue,
			Payload:     &pb.Payload{Data: []byte(payload), ContentType: "application/json"},
			Policy:      &pb.RunPolicy{Kind: &pb.RunPolicy_Once{Once: &pb.OncePolicy{}}},
			Constraints: &pb.Constraints{MaxAttempts: 3},
		}})
		if err != nil {
			// Typed errors: a bad field comes back with its field violations.
			if aqErr := actionqueue.AsError(err); aqErr != nil && len(aqErr.FieldViolations) > 0 {
				log.Fatalf("submit refused: %v (fields: %+v)", aqErr, aqErr.FieldViolations)
			}
			log.Fatalf("submit: %v", err)
		}
		runID := resp.GetRuns()[0].GetId()
		pending[runID] = true
		fmt.Printf("submitted task %s run %s payload %s\n", resp.GetTask().GetId(), runID, payload)
	}
	if !*wait {
		return
	}

	errDone := errors.New("done")
	err = client.Watch(ctx, &pb.WatchRunsRequest{Queues: []string{*queue}}, stats.GetRevision()+1, func(ev *pb.RunEvent) error {
		if !pending[ev.GetRunId()] {
			return nil
		}
		switch ev.GetToState() {
		case pb.RunState_RUN_STATE_COMPLETED, pb.RunState_RUN_STATE_FAILED, pb.RunState_RUN_STATE_CANCELED:
			run, err := client.Runs.GetRun(ctx, &pb.GetRunRequest{RunId: ev.GetRunId()})
			if err != nil {
				return err
			}
			output := ""
			if atts := run.GetAttempts(); len(atts) > 0 {
				output = string(atts[len(atts)-1].GetOutput())
			}
			fmt.Printf("run %s %s output %q\n", ev.GetRunId(), ev.GetToState(), output)
			delete(pending, ev.GetRunId())
		}
		if len(pending) == 0 {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		log.Fatalf("watch: %v", err)
	}
	fmt.Println("all runs finished")
}
