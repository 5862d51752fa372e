package actionqueue

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	actionqueuev1 "github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1"
)

// Handler processes one run. Returning (output, nil) completes the attempt with SUCCESS and
// the output bytes (at most 1 MiB); returning an error wrapped with NonRetryable fails the run
// for good (TERMINAL_FAILURE); any other error is a RETRYABLE_FAILURE, retried by the server
// according to the task's max_attempts and backoff. A panic counts as a retryable failure.
//
// ctx is canceled when the run is canceled or suspended, when its lease is lost, or when the
// worker stops and the shutdown grace has passed; StopCause(ctx) says which. After a
// cancellation, lease loss or suspension the result is discarded (the lease is gone).
type Handler func(ctx context.Context, job *Job) ([]byte, error)

// Job is one leased run with its open attempt, as a Handler sees it.
type Job struct {
	// RunID, TaskID and Queue identify the run.
	RunID, TaskID, Queue string
	// AttemptID is the open attempt; Attempt its 1-based number.
	AttemptID string
	Attempt   int32
	// Payload and ContentType are the task's payload.
	Payload     []byte
	ContentType string
	// Run and Task are the full messages LeaseRuns returned.
	Run  *actionqueuev1.Run
	Task *actionqueuev1.Task
}

// NonRetryableError marks a handler error as final: the attempt ends with TERMINAL_FAILURE
// and the run is FAILED without further attempts. Create it with NonRetryable.
type NonRetryableError struct{ Err error }

// Error returns the wrapped error's text.
func (e *NonRetryableError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *NonRetryableError) Unwrap() error { return e.Err }

// NonRetryable wraps err so that the worker reports TERMINAL_FAILURE (nil stays nil).
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &NonRetryableError{Err: err}
}

// Why a handler's context was canceled (see StopCause).
var (
	// ErrRunCanceled: the run was canceled; a heartbeat said stop.
	ErrRunCanceled = errors.New("actionqueue: run canceled")
	// ErrRunSuspended: an operator suspended the run; a heartbeat said stop.
	ErrRunSuspended = errors.New("actionqueue: run suspended")
	// ErrWorkerStopping: the worker is stopping and the shutdown grace has passed; the
	// handler's result is still reported.
	ErrWorkerStopping = errors.New("actionqueue: worker stopping")
)

// StopCause returns why the context a Handler received was canceled: ErrRunCanceled,
// ErrRunSuspended, ErrLeaseLost (match with errors.Is) or ErrWorkerStopping. It returns nil
// while the context is live, and for contexts that did not come from a Worker.
func StopCause(ctx context.Context) error {
	if a, ok := ctx.Value(activeKey{}).(*activeRun); ok {
		return a.cause()
	}
	return nil
}

// WorkerOptions configures NewWorker. Queues and Handler are required.
type WorkerOptions struct {
	// Queues to lease from (1 to 64).
	Queues []string
	// Handler processes each run.
	Handler Handler
	// WorkerID names this worker in leases and attempts. Default: "<hostname>-<pid>".
	WorkerID string
	// Capabilities the worker declares; runs requiring others are not handed to it.
	Capabilities []string
	// Concurrency is the most runs handled at once. Default 1.
	Concurrency int
	// LeaseDuration is the lease length asked for (1 s to 1 h). Default 30 s.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often the leases of all running handlers are extended, in one
	// BatchHeartbeat call. Default LeaseDuration / 3, so two heartbeats can fail in a row
	// before a lease lapses.
	HeartbeatInterval time.Duration
	// PollWait is the LeaseRuns long-poll time (up to 60 s). Default 10 s.
	PollWait time.Duration
	// ShutdownGrace is how long running handlers may continue after Stop (or the context
	// given to Run ends) before their contexts are canceled. Default 10 s; negative: at once.
	ShutdownGrace time.Duration
	// Logf receives the worker's diagnostics (failed calls, lost leases). Default log.Printf.
	Logf func(format string, args ...interface{})
}

// Worker leases runs of some queues and runs a Handler for each, keeping the leases alive
// with batched heartbeats and reporting each outcome. Create it with Client.NewWorker; Run it
// once. States: idle -> running -> stopped.
type Worker struct {
	client *Client
	opts   WorkerOptions

	mu     sync.Mutex
	state  string // "idle" | "running" | "stopped"
	active map[string]*activeRun
	stopCh chan struct{}
	once   sync.Once
}

// NewWorker validates and completes opts and returns a Worker that has not started.
func (c *Client) NewWorker(opts WorkerOptions) (*Worker, error) {
	if len(opts.Queues) == 0 {
		return nil, errors.New("actionqueue: WorkerOptions.Queues is empty")
	}
	if opts.Handler == nil {
		return nil, errors.New("actionqueue: WorkerOptions.Handler is nil")
	}
	if opts.WorkerID == "" {
		host, _ := os.Hostname()
		opts.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = 30 * time.Second
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = opts.LeaseDuration / 3
	}
	if opts.PollWait <= 0 {
		opts.PollWait = 10 * time.Second
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	return &Worker{client: c, opts: opts, state: "idle", active: map[string]*activeRun{}, stopCh: make(chan struct{})}, nil
}

// Stop asks a running worker to stop: no more leasing, handlers get ShutdownGrace to finish.
// Run returns once every handler has returned and its outcome is reported. Safe to call more
// than once and from any goroutine.
func (w *Worker) Stop() { w.once.Do(func() { close(w.stopCh) }) }

// Run leases and handles runs until Stop is called or ctx ends, then drains (see Stop) and
// returns nil. It fails at once if the worker is not idle. Leasing errors (server down or
// restarting) are logged and retried with backoff, so Run survives server restarts.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.state != "idle" {
		s := w.state
		w.mu.Unlock()
		return fmt.Errorf("actionqueue: Worker.Run called in state %q (a worker runs once)", s)
	}
	w.state = "running"
	w.mu.Unlock()
	defer func() { w.mu.Lock(); w.state = "stopped"; w.mu.Unlock() }()

	leaseCtx, cancelLease := context.WithCancel(ctx)
	defer cancelLease()
	go func() {
		select {
		case <-w.stopCh:
			cancelLease()
		case <-leaseCtx.Done():
		}
	}()
	// Handlers and their completions must outlive ctx (they get the grace period and their
	// outcome is still reported), so they hang off a context that keeps ctx's values only.
	handlersCtx, cancelHandlers := context.WithCancel(detached{ctx})
	defer cancelHandlers()
	hbCtx, stopHeartbeats := context.WithCancel(detached{ctx})
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeatLoop(hbCtx) }()

	slots := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	backoff := newBackoff()
	for leaseCtx.Err() == nil {
		// Wait for one free slot, then take every other free one: one LeaseRuns for all.
		select {
		case slots <- struct{}{}:
		case <-leaseCtx.Done():
			continue
		}
		free := 1
	fill:
		for free < w.opts.Concurrency {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break fill
			}
		}
		resp, err := w.client.Workers.LeaseRuns(leaseCtx, &actionqueuev1.LeaseRunsRequest{
			Queues: w.opts.Queues, WorkerId: w.opts.WorkerID, Capabilities: w.opts.Capabilities,
			MaxRuns: int32(free), LeaseDuration: durationpb.New(w.opts.LeaseDuration),
			Wait: durationpb.New(w.opts.PollWait), StartAttempt: true,
		})
		var runs []*actionqueuev1.LeasedRun
		if err == nil {
			runs = resp.GetRuns()
			backoff.reset()
		}
		for i := len(runs); i < free; i++ {
			<-slots
		}
		if err != nil {
			if leaseCtx.Err() != nil {
				break
			}
			w.opts.Logf("actionqueue worker %s: LeaseRuns failed (retrying): %v", w.opts.WorkerID, err)
			sleepCtx(leaseCtx, backoff.next())
			continue
		}
		for _, lr := range runs {
			wg.Add(1)
			go func(lr *actionqueuev1.LeasedRun) {
				defer func() { <-slots; wg.Done() }()
				w.process(handlersCtx, lr)
			}(lr)
		}
	}

	// Drain: handlers get the grace period, then their contexts are canceled.
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	if w.opts.ShutdownGrace > 0 {
		select {
		case <-drained:
		case <-time.After(w.opts.ShutdownGrace):
		}
	}
	w.mu.Lock()
	for _, a := range w.active {
		a.stop(ErrWorkerStopping)
	}
	w.mu.Unlock()
	cancelHandlers()
	<-drained
	stopHeartbeats()
	<-hbDone
	return nil
}

// process runs the handler for one leased run and reports the outcome.
func (w *Worker) process(base context.Context, lr *actionqueuev1.LeasedRun) {
	run := lr.GetRun()
	attempt := lr.GetAttempt()
	if attempt == nil {
		// start_attempt was ignored (an older server): open the attempt ourselves.
		resp, err := w.client.Workers.StartAttempt(base, &actionqueuev1.StartAttemptRequest{RunId: run.GetId(), LeaseToken: lr.GetLeaseToken()})
		if err != nil {
			w.opts.Logf("actionqueue worker %s: StartAttempt %s failed: %v", w.opts.WorkerID, run.GetId(), err)
			return
		}
		attempt = resp.GetAttempt()
	}
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	a := &activeRun{runID: run.GetId(), token: lr.GetLeaseToken(), expires: lr.GetLeaseExpiresAt().AsTime(), cancel: cancel}
	ctx = context.WithValue(ctx, activeKey{}, a)
	w.mu.Lock()
	w.active[a.runID] = a
	w.mu.Unlock()

	job := &Job{
		RunID: run.GetId(), TaskID: run.GetTaskId(), Queue: run.GetQueue(),
		AttemptID: attempt.GetId(), Attempt: attempt.GetNumber(),
		Payload: lr.GetTask().GetSpec().GetPayload().GetData(), ContentType: lr.GetTask().GetSpec().GetPayload().GetContentType(),
		Run: run, Task: lr.GetTask(),
	}
	output, herr := callHandler(ctx, w.opts.Handler, job)

	w.mu.Lock()
	delete(w.active, a.runID)
	w.mu.Unlock()
	if cause := a.cause(); cause != nil && cause != ErrWorkerStopping {
		// Canceled, suspended or lease lost: the lease is gone and a completion would be
		// refused with LEASE_LOST, so there is nothing to report.
		w.opts.Logf("actionqueue worker %s: run %s stopped: %v", w.opts.WorkerID, a.runID, cause)
		return
	}
	req := &actionqueuev1.CompleteAttemptRequest{RunId: a.runID, LeaseToken: a.token, AttemptId: job.AttemptID}
	var nonRetryable *NonRetryableError
	switch {
	case herr == nil:
		req.Outcome = actionqueuev1.AttemptOutcome_ATTEMPT_OUTCOME_SUCCESS
		req.Output = output
	case errors.As(herr, &nonRetryable):
		req.Outcome = actionqueuev1.AttemptOutcome_ATTEMPT_OUTCOME_TERMINAL_FAILURE
		req.Error = errorText(herr)
	default:
		req.Outcome = actionqueuev1.AttemptOutcome_ATTEMPT_OUTCOME_RETRYABLE_FAILURE
		req.Error = errorText(herr)
	}
	w.complete(base, req)
}

// complete reports an outcome, retrying while the server is unavailable (a restart) until the
// lease would have lapsed anyway.
func (w *Worker) complete(base context.Context, req *actionqueuev1.CompleteAttemptRequest) {
	ctx, cancel := context.WithTimeout(detached{base}, w.opts.LeaseDuration)
	defer cancel()
	b := newBackoff()
	for {
		_, err := w.client.Workers.CompleteAttempt(ctx, req)
		if err == nil {
			return
		}
		if !IsUnavailable(err) || ctx.Err() != nil {
			w.opts.Logf("actionqueue worker %s: CompleteAttempt %s (%s) failed: %v", w.opts.WorkerID, req.RunId, req.Outcome, err)
			return
		}
		sleepCtx(ctx, b.next())
	}
}

// heartbeatLoop extends every active lease each HeartbeatInterval in one BatchHeartbeat
// (chunks of 1,000) and stops handlers whose run was canceled, suspended or lost.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(w.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		runs := make([]*activeRun, 0, len(w.active))
		for _, a := range w.active {
			runs = append(runs, a)
		}
		w.mu.Unlock()
		for start := 0; start < len(runs); start += 1000 {
			end := start + 1000
			if end > len(runs) {
				end = len(runs)
			}
			w.heartbeat(ctx, runs[start:end])
		}
	}
}

func (w *Worker) heartbeat(ctx context.Context, runs []*activeRun) {
	req := &actionqueuev1.BatchHeartbeatRequest{}
	byID := map[string]*activeRun{}
	for _, a := range runs {
		byID[a.runID] = a
		req.Heartbeats = append(req.Heartbeats, &actionqueuev1.HeartbeatRequest{RunId: a.runID, LeaseToken: a.token, ExtendBy: durationpb.New(w.opts.LeaseDuration)})
	}
	callCtx, cancel := context.WithTimeout(ctx, w.opts.HeartbeatInterval)
	defer cancel()
	resp, err := w.client.Workers.BatchHeartbeat(callCtx, req)
	if err != nil {
		w.opts.Logf("actionqueue worker %s: BatchHeartbeat failed: %v", w.opts.WorkerID, err)
		// Without an answer, a lease we know has lapsed is lost: stop its handler rather than
		// let it finish work whose completion the server will refuse.
		now := time.Now()
		for _, a := range runs {
			if now.After(a.expiry()) {
				a.stop(ErrLeaseLost)
			}
		}
		return
	}
	for _, r := range resp.GetResults() {
		a := byID[r.GetRunId()]
		if a == nil {
			continue
		}
		if e := r.GetError(); e != nil {
			w.opts.Logf("actionqueue worker %s: heartbeat for run %s refused: %s %s", w.opts.WorkerID, a.runID, e.GetReason(), e.GetMessage())
			a.stop(ErrLeaseLost)
			continue
		}
		ok := r.GetOk()
		switch {
		case !ok.GetStop():
			a.extend(ok.GetLeaseExpiresAt().AsTime())
		case ok.GetStopReason() == actionqueuev1.StopReason_STOP_REASON_SUSPENDED:
			a.stop(ErrRunSuspended)
		default:
			a.stop(ErrRunCanceled)
		}
	}
}

// activeRun is the worker's view of one running handler.
type activeRun struct {
	runID, token string
	cancel       context.CancelFunc

	mu      sync.Mutex
	expires time.Time
	reason  error
}

type activeKey struct{}

func (a *activeRun) stop(reason error) {
	a.mu.Lock()
	if a.reason == nil {
		a.reason = reason
	}
	a.mu.Unlock()
	a.cancel()
}

func (a *activeRun) cause() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason
}

func (a *activeRun) extend(t time.Time) {
	a.mu.Lock()
	a.expires = t
	a.mu.Unlock()
}

func (a *activeRun) expiry() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.expires
}

// callHandler runs h, turning a panic into a retryable error.
func callHandler(ctx context.Context, h Handler, job *Job) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, job)
}

// errorText is the attempt's error text, capped below the server's 64 KiB limit.
func errorText(err error) string {
	const limit = 60 << 10
	s := err.Error()
	if len(s) > limit {
		// Cutting may split a UTF-8 sequence, and the server refuses invalid UTF-8.
		s = strings.ToValidUTF8(s[:limit], "")
	}
	return s
}
