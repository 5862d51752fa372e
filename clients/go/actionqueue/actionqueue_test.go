package actionqueue_test

// Tests against a running ActionQueue server whose address is in ACTIONQUEUE_TEST_TARGET
// (test/clients/go.test.ts starts one and sets it). Without the variable they are skipped.
// Every test uses its own queue, so the tests share the server without seeing each other.
// Waits poll state with generous deadlines; nothing asserts on how fast the machine is.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actionqueue/actionqueue/clients/go/actionqueue"
	pb "github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1"
)

const deadline = 60 * time.Second

func dial(t *testing.T) *actionqueue.Client {
	t.Helper()
	target := os.Getenv("ACTIONQUEUE_TEST_TARGET")
	if target == "" {
		t.Skip("ACTIONQUEUE_TEST_TARGET is not set (the address of a running server)")
	}
	c, err := actionqueue.Dial(target)
	if err != nil {
		t.Fatalf("Dial(%q): %v", target, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*deadline)
	t.Cleanup(cancel)
	return ctx
}

func uniqueQueue(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "go-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + hex.EncodeToString(b)
}

func submit(t *testing.T, ctx context.Context, c *actionqueue.Client, queue string, payload string, constraints *pb.Constraints) *pb.SubmitTaskResponse {
	t.Helper()
	resp, err := c.Tasks.SubmitTask(ctx, &pb.SubmitTaskRequest{Spec: &pb.TaskSpec{
		Queue:       queue,
		Payload:     &pb.Payload{Data: []byte(payload), ContentType: "text/plain"},
		Policy:      &pb.RunPolicy{Kind: &pb.RunPolicy_Once{Once: &pb.OncePolicy{}}},
		Constraints: constraints,
	}})
	if err != nil {
		t.Fatalf("SubmitTask: %v", err)
	}
	if len(resp.GetRuns()) != 1 {
		t.Fatalf("SubmitTask returned %d runs, want 1", len(resp.GetRuns()))
	}
	return resp
}

// leaseOne long-polls until the queue hands out one run.
func leaseOne(t *testing.T, ctx context.Context, c *actionqueue.Client, queue string, start bool) *pb.LeasedRun {
	t.Helper()
	stop := time.Now().Add(deadline)
	for time.Now().Before(stop) {
		resp, err := c.Workers.LeaseRuns(ctx, &pb.LeaseRunsRequest{
			Queues: []string{queue}, WorkerId: "go-test", MaxRuns: 1,
			LeaseDuration: durationpb.New(30 * time.Second), Wait: durationpb.New(5 * time.Second), StartAttempt: start,
		})
		if err != nil {
			t.Fatalf("LeaseRuns: %v", err)
		}
		if len(resp.GetRuns()) == 1 {
			return resp.GetRuns()[0]
		}
	}
	t.Fatalf("no run of queue %s was handed out within %s", queue, deadline)
	return nil
}

func TestRoundTripSubmitLeaseStartHeartbeatComplete(t *testing.T) {
	c, ctx := dial(t), ctxFor(t)
	queue := uniqueQueue(t)
	sub := submit(t, ctx, c, queue, "hello", nil)
	runID := sub.GetRuns()[0].GetId()

	lr := leaseOne(t, ctx, c, queue, false)
	if lr.GetRun().GetId() != runID || lr.GetRun().GetState() != pb.RunState_RUN_STATE_LEASED || lr.GetLeaseToken() == "" {
		t.Fatalf("leased %s in %s (token %q), want %s LEASED with a token", lr.GetRun().GetId(), lr.GetRun().GetState(), lr.GetLeaseToken(), runID)
	}
	if string(lr.GetTask().GetSpec().GetPayload().GetData()) != "hello" {
		t.Fatalf("payload %q, want hello", lr.GetTask().GetSpec().GetPayload().GetData())
	}
	started, err := c.Workers.StartAttempt(ctx, &pb.StartAttemptRequest{RunId: runID, LeaseToken: lr.GetLeaseToken()})
	if err != nil {
		t.Fatalf("StartAttempt: %v", err)
	}
	if started.GetRun().GetState() != pb.RunState_RUN_STATE_RUNNING || started.GetAttempt().GetNumber() != 1 {
		t.Fatalf("after StartAttempt: state %s attempt %d, want RUNNING attempt 1", started.GetRun().GetState(), started.GetAttempt().GetNumber())
	}
	hb, err := c.Workers.Heartbeat(ctx, &pb.HeartbeatRequest{RunId: runID, LeaseToken: lr.GetLeaseToken(), ExtendBy: durationpb.New(time.Minute)})
	if err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if hb.GetStop() || !hb.GetLeaseExpiresAt().AsTime().After(lr.GetLeaseExpiresAt().AsTime()) {
		t.Fatalf("Heartbeat: stop=%v expiry %v, want the lease extended past %v", hb.GetStop(), hb.GetLeaseExpiresAt().AsTime(), lr.GetLeaseExpiresAt().AsTime())
	}
	done, err := c.Workers.CompleteAttempt(ctx, &pb.CompleteAttemptRequest{
		RunId: runID, LeaseToken: lr.GetLeaseToken(), AttemptId: started.GetAttempt().GetId(),
		Outcome: pb.AttemptOutcome_ATTEMPT_OUTCOME_SUCCESS, Output: []byte("world"),
	})
	if err != nil {
		t.Fatalf("CompleteAttempt: %v", err)
	}
	if done.GetRun().GetState() != pb.RunState_RUN_STATE_COMPLETED {
		t.Fatalf("after CompleteAttempt: %s, want COMPLETED", done.GetRun().GetState())
	}
	got, err := c.Runs.GetRun(ctx, &pb.GetRunRequest{RunId: runID})
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if got.GetRun().GetState() != pb.RunState_RUN_STATE_COMPLETED || len(got.GetAttempts()) != 1 || string(got.GetAttempts()[0].GetOutput()) != "world" {
		t.Fatalf("GetRun: %s with %d attempts, want COMPLETED with one attempt whose output is world", got.GetRun().GetState(), len(got.GetAttempts()))
	}
}

func TestAttemptLedgerKeepsEveryAttemptAndRefusesAStaleToken(t *testing.T) {
	c, ctx := dial(t), ctxFor(t)
	queue := uniqueQueue(t)
	sub := submit(t, ctx, c, queue, "flaky", &pb.Constraints{
		MaxAttempts: 3,
		Backoff:     &pb.Backoff{Kind: &pb.Backoff_Fixed{Fixed: &pb.FixedBackoff{Interval: durationpb.New(100 * time.Millisecond)}}},
	})
	runID := sub.GetRuns()[0].GetId()

	first := leaseOne(t, ctx, c, queue, true)
	if _, err := c.Workers.CompleteAttempt(ctx, &pb.CompleteAttemptRequest{
		RunId: runID, LeaseToken: first.GetLeaseToken(), AttemptId: first.GetAttempt().GetId(),
		Outcome: pb.AttemptOutcome_ATTEMPT_OUTCOME_RETRYABLE_FAILURE, Error: "connection reset",
	}); err != nil {
		t.Fatalf("CompleteAttempt(RETRYABLE_FAILURE): %v", err)
	}
	second := leaseOne(t, ctx, c, queue, true) // after the 100 ms backoff
	if second.GetAttempt().GetNumber() != 2 {
		t.Fatalf("second lease opened attempt %d, want 2", second.GetAttempt().GetNumber())
	}
	// The first lease's token no longer owns the run: LEASE_LOST, decoded into *Error.
	_, err := c.Workers.Heartbeat(ctx, &pb.HeartbeatRequest{RunId: runID, LeaseToken: first.GetLeaseToken()})
	var aqErr *actionqueue.Error
	if !errors.As(err, &aqErr) || aqErr.Code != codes.FailedPrecondition || aqErr.Reason != actionqueue.ReasonLeaseLost ||
		!errors.Is(err, actionqueue.ErrLeaseLost) || !actionqueue.IsLeaseLost(err) || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("heartbeat with the first token: %v, want FAILED_PRECONDITION LEASE_LOST", err)
	}
	if aqErr.Metadata["run_id"] != runID {
		t.Fatalf("LEASE_LOST metadata %v, want run_id %s", aqErr.Metadata, runID)
	}
	if _, err := c.Workers.CompleteAttempt(ctx, &pb.CompleteAttemptRequest{
		RunId: runID, LeaseToken: second.GetLeaseToken(), AttemptId: second.GetAttempt().GetId(),
		Outcome: pb.AttemptOutcome_ATTEMPT_OUTCOME_SUCCESS, Output: []byte("ok"),
	}); err != nil {
		t.Fatalf("CompleteAttempt(SUCCESS): %v", err)
	}

	ledger, err := c.Runs.ListAttempts(ctx, &pb.ListAttemptsRequest{RunId: runID})
	if err != nil {
		t.Fatalf("ListAttempts: %v", err)
	}
	var got []string
	for _, a := range ledger.GetAttempts() {
		got = append(got, fmt.Sprintf("%d:%s:%s:%s", a.GetNumber(), a.GetOutcome(), a.GetError(), a.GetOutput()))
	}
	want := []string{"1:ATTEMPT_OUTCOME_RETRYABLE_FAILURE:connection reset:", "2:ATTEMPT_OUTCOME_SUCCESS::ok"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("ledger %v, want %v", got, want)
	}
}

func TestRichErrorsCarryFieldViolationsAndReasons(t *testing.T) {
	c, ctx := dial(t), ctxFor(t)

	_, err := c.Tasks.SubmitTask(ctx, &pb.SubmitTaskRequest{Spec: &pb.TaskSpec{
		Queue:       "no spaces allowed",
		Policy:      &pb.RunPolicy{Kind: &pb.RunPolicy_Once{Once: &pb.OncePolicy{}}},
		Constraints: &pb.Constraints{MaxAttempts: 5000},
	}})
	aqErr := actionqueue.AsError(err)
	if aqErr == nil || aqErr.Code != codes.InvalidArgument || !actionqueue.IsInvalidArgument(err) || !errors.Is(err, actionqueue.ErrInvalidArgument) {
		t.Fatalf("SubmitTask with a bad queue and max_attempts: %v, want INVALID_ARGUMENT", err)
	}
	for _, field := range []string{"spec.queue", "spec.constraints.max_attempts"} {
		if _, ok := aqErr.Field(field); !ok {
			t.Fatalf("field violations %+v do not name %s", aqErr.FieldViolations, field)
		}
	}

	missing := "0190a0a0-0000-7000-8000-000000000000"
	_, err = c.Runs.GetRun(ctx, &pb.GetRunRequest{RunId: missing})
	aqErr = actionqueue.AsError(err)
	if aqErr == nil || aqErr.Code != codes.NotFound || aqErr.Reason != actionqueue.ReasonRunNotFound || aqErr.Metadata["run_id"] != missing {
		t.Fatalf("GetRun(unknown): %v (%+v), want NOT_FOUND RUN_NOT_FOUND with run_id", err, aqErr)
	}
	if !errors.Is(err, actionqueue.ErrRunNotFound) || !errors.Is(err, actionqueue.ErrNotFound) || errors.Is(err, actionqueue.ErrTaskNotFound) || !actionqueue.IsNotFound(err) {
		t.Fatalf("GetRun(unknown): errors.Is does not match the RUN_NOT_FOUND sentinels: %v", err)
	}
}

// collect reads one raw WatchRuns stream from `from` until a progress message covers `upTo`.
func collect(t *testing.T, ctx context.Context, c *actionqueue.Client, queue string, from, upTo uint64) []uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Runs.WatchRuns(ctx, &pb.WatchRunsRequest{Queues: []string{queue}, StartRevision: from, ProgressIntervalMs: 100})
	if err != nil {
		t.Fatalf("WatchRuns: %v", err)
	}
	var revs []uint64
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("WatchRuns.Recv: %v", err)
		}
		if ev := msg.GetEvent(); ev != nil {
			revs = append(revs, ev.GetRevision())
		}
		for _, ev := range msg.GetEvents().GetEvents() {
			revs = append(revs, ev.GetRevision())
		}
		if p := msg.GetProgress(); p != nil && p.GetRevision() >= upTo {
			return revs
		}
	}
}

var errEnough = errors.New("enough")

func TestWatchResumesFromARevisionWithNoGapAndNoDuplicate(t *testing.T) {
	c, ctx := dial(t), ctxFor(t)
	queue := uniqueQueue(t)
	for i := 0; i < 4; i++ {
		submit(t, ctx, c, queue, fmt.Sprint(i), nil)
	}
	stats, err := c.Admin.GetStats(ctx, &pb.GetStatsRequest{})
	if err != nil {
		t.Fatalf("GetStats: %v", err)
	}
	// The reference: every event of the queue up to now, read in one unbroken stream.
	reference := collect(t, ctx, c, queue, 1, stats.GetRevision())
	if len(reference) < 4 || !sort.SliceIsSorted(reference, func(i, j int) bool { return reference[i] < reference[j] }) {
		t.Fatalf("reference history %v: want at least 4 events in revision order", reference)
	}

	// Read half, stop, and resume from the last revision + 1 with the wrapper's Watch.
	var got []uint64
	half := len(reference) / 2
	err = c.Watch(ctx, &pb.WatchRunsRequest{Queues: []string{queue}}, 1, func(ev *pb.RunEvent) error {
		got = append(got, ev.GetRevision())
		if len(got) == half {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("first Watch ended with %v, want the callback's error", err)
	}
	// The resumed watch replays the rest of the history, then a live event: a task
	// submitted after the watch has caught up.
	var liveOnce sync.Once
	var liveRun string
	err = c.Watch(ctx, &pb.WatchRunsRequest{Queues: []string{queue}}, got[len(got)-1]+1, func(ev *pb.RunEvent) error {
		got = append(got, ev.GetRevision())
		if len(got) == len(reference) {
			liveOnce.Do(func() { liveRun = submit(t, ctx, c, queue, "live", nil).GetRuns()[0].GetId() })
		}
		if len(got) > len(reference) && ev.GetRunId() == liveRun {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("resumed Watch ended with %v, want the callback's error", err)
	}
	if fmt.Sprint(got[:len(reference)]) != fmt.Sprint(reference) {
		t.Fatalf("split watch delivered %v, the unbroken one %v", got[:len(reference)], reference)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("revisions not strictly increasing (duplicate or reorder): %v", got)
		}
	}
}
