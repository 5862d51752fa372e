package actionqueue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actionqueue/actionqueue/clients/go/actionqueue"
	pb "github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1"
)

// waitFor polls cond until it holds, failing the test after the deadline.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	stop := time.Now().Add(deadline)
	last := ""
	for time.Now().Before(stop) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last seen: %s", what, last)
}

func runOf(t *testing.T, ctx context.Context, c *actionqueue.Client, runID string) *pb.GetRunResponse {
	t.Helper()
	r, err := c.Runs.GetRun(ctx, &pb.GetRunRequest{RunId: runID})
	if err != nil {
		t.Fatalf("GetRun %s: %v", runID, err)
	}
	return r
}

func TestWorkerMapsOutcomesKeepsLeasesAliveAndStopsOnCancel(t *testing.T) {
	c, ctx := dial(t), ctxFor(t)
	queue := uniqueQueue(t)
	retry := &pb.Constraints{
		MaxAttempts: 3,
		Backoff:     &pb.Backoff{Kind: &pb.Backoff_Fixed{Fixed: &pb.FixedBackoff{Interval: durationpb.New(100 * time.Millisecond)}}},
	}
	runs := map[string]string{} // payload -> run id
	for _, p := range []string{"ok-1", "ok-2", "ok-3", "fatal", "flaky", "slow", "block"} {
		runs[p] = submit(t, ctx, c, queue, p, retry).GetRuns()[0].GetId()
	}

	stopCause := make(chan error, 1)
	w, err := c.NewWorker(actionqueue.WorkerOptions{
		Queues:      []string{queue},
		WorkerID:    "go-worker-test",
		Concurrency: 3,
		// A short lease that the "slow" job outlives: it completes only if the heartbeats
		// keep extending it (6 heartbeats per lease, so a busy machine has ample slack).
		LeaseDuration:     3 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
		PollWait:          2 * time.Second,
		Logf:              t.Logf,
		Handler: func(ctx context.Context, job *actionqueue.Job) ([]byte, error) {
			p := string(job.Payload)
			switch {
			case p == "fatal":
				return nil, actionqueue.NonRetryable(errors.New("bad input"))
			case p == "flaky" && job.Attempt == 1:
				return nil, errors.New("transient")
			case p == "slow":
				select {
				case <-time.After(4 * time.Second):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			case p == "block":
				<-ctx.Done() // until the test cancels the run
				stopCause <- actionqueue.StopCause(ctx)
				return nil, ctx.Err()
			}
			return []byte(strings.ToUpper(p) + fmt.Sprintf("#%d", job.Attempt)), nil
		},
	})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(context.Background()) }()

	// Cancel the "block" run once its handler holds it.
	waitFor(t, "the block run to be RUNNING", func() (bool, string) {
		s := runOf(t, ctx, c, runs["block"]).GetRun().GetState()
		return s == pb.RunState_RUN_STATE_RUNNING, s.String()
	})
	if _, err := c.Runs.CancelRun(ctx, &pb.CancelRunRequest{RunId: runs["block"]}); err != nil {
		t.Fatalf("CancelRun: %v", err)
	}
	select {
	case cause := <-stopCause:
		if !errors.Is(cause, actionqueue.ErrRunCanceled) {
			t.Fatalf("block handler's StopCause = %v, want ErrRunCanceled", cause)
		}
	case <-time.After(deadline):
		t.Fatalf("the canceled run's handler context was not canceled")
	}

	want := map[string]struct {
		state    pb.RunState
		attempts int
		output   string
	}{
		"ok-1":  {pb.RunState_RUN_STATE_COMPLETED, 1, "OK-1#1"},
		"ok-2":  {pb.RunState_RUN_STATE_COMPLETED, 1, "OK-2#1"},
		"ok-3":  {pb.RunState_RUN_STATE_COMPLETED, 1, "OK-3#1"},
		"fatal": {pb.RunState_RUN_STATE_FAILED, 1, ""},
		"flaky": {pb.RunState_RUN_STATE_COMPLETED, 2, "FLAKY#2"},
		"slow":  {pb.RunState_RUN_STATE_COMPLETED, 1, "SLOW#1"},
		"block": {pb.RunState_RUN_STATE_CANCELED, 1, ""},
	}
	for p, exp := range want {
		waitFor(t, p+" to reach "+exp.state.String(), func() (bool, string) {
			s := runOf(t, ctx, c, runs[p]).GetRun().GetState()
			return s == exp.state, s.String()
		})
		r := runOf(t, ctx, c, runs[p])
		atts := r.GetAttempts()
		if len(atts) != exp.attempts {
			t.Fatalf("%s: %d attempts, want %d", p, len(atts), exp.attempts)
		}
		last := atts[len(atts)-1]
		if string(last.GetOutput()) != exp.output {
			t.Fatalf("%s: output %q, want %q", p, last.GetOutput(), exp.output)
		}
		if p == "fatal" && (last.GetOutcome() != pb.AttemptOutcome_ATTEMPT_OUTCOME_TERMINAL_FAILURE || last.GetError() != "bad input") {
			t.Fatalf("fatal: outcome %s error %q, want TERMINAL_FAILURE \"bad input\"", last.GetOutcome(), last.GetError())
		}
		if p == "flaky" && (atts[0].GetOutcome() != pb.AttemptOutcome_ATTEMPT_OUTCOME_RETRYABLE_FAILURE || atts[0].GetError() != "transient") {
			t.Fatalf("flaky: first attempt %s %q, want RETRYABLE_FAILURE \"transient\"", atts[0].GetOutcome(), atts[0].GetError())
		}
	}

	w.Stop()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Worker.Run returned %v after Stop, want nil", err)
		}
	case <-time.After(deadline):
		t.Fatalf("Worker.Run did not return after Stop")
	}
	if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("a second Run returned %v, want an error naming the state", err)
	}
	left, err := c.Runs.ListRuns(ctx, &pb.ListRunsRequest{Queue: queue, States: []pb.RunState{pb.RunState_RUN_STATE_LEASED, pb.RunState_RUN_STATE_RUNNING}})
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	if len(left.GetRuns()) != 0 {
		t.Fatalf("%d runs still LEASED or RUNNING after Stop", len(left.GetRuns()))
	}
}
