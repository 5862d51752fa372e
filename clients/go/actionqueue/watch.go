package actionqueue

import (
	"context"
	"errors"
	"io"

	"google.golang.org/protobuf/proto"

	actionqueuev1 "github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1"
)

// Watch streams the run events that match filter (its queues, task_id, run_id and states;
// its start_revision is ignored) from revision fromRevision on, calling fn for each event in
// revision order. fromRevision 0 means "from now": Watch reads the current revision with
// AdminService.GetStats and starts right after it (falling back to a live-only stream when
// the caller may not read stats).
//
// When the stream breaks — the server restarts (UNAVAILABLE) or the watcher fell behind
// (RESOURCE_EXHAUSTED, WATCH_TOO_SLOW) — Watch reconnects with backoff from the last revision
// it delivered or saw in a progress message, plus one: fn sees every matching event once,
// with no gap and no duplicate.
//
// Watch returns fn's error when fn fails, ctx.Err() when ctx ends, and the *Error of any
// other failure (REVISION_PURGED when fromRevision is older than the retained history,
// INVALID_ARGUMENT for a bad filter, ...).
func (c *Client) Watch(ctx context.Context, filter *actionqueuev1.WatchRunsRequest, fromRevision uint64, fn func(*actionqueuev1.RunEvent) error) error {
	if filter == nil {
		filter = &actionqueuev1.WatchRunsRequest{}
	}
	next := fromRevision
	if next == 0 {
		if stats, err := c.Admin.GetStats(ctx, &actionqueuev1.GetStatsRequest{}); err == nil {
			next = stats.GetRevision() + 1
		}
	}
	b := newBackoff()
	for {
		req := proto.Clone(filter).(*actionqueuev1.WatchRunsRequest)
		req.StartRevision = next
		delivered, err := c.watchOnce(ctx, req, &next, fn)
		if delivered {
			b.reset()
		}
		var fnErr callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case err == io.EOF || IsUnavailable(err) || errors.Is(err, ErrWatchTooSlow):
			sleepCtx(ctx, b.next())
		default:
			return err
		}
	}
}

// callbackError marks an error that came from the caller's fn, not from the stream.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// watchOnce reads one stream until it ends, advancing *next past every revision it has
// delivered or that a progress message covers. delivered reports whether anything arrived.
func (c *Client) watchOnce(ctx context.Context, req *actionqueuev1.WatchRunsRequest, next *uint64, fn func(*actionqueuev1.RunEvent) error) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Runs.WatchRuns(ctx, req)
	if err != nil {
		return false, err
	}
	deliver := func(ev *actionqueuev1.RunEvent) error {
		// Defensive: the server promises no duplicate, and a resume must not create one.
		if ev.GetRevision() < *next {
			return nil
		}
		if err := fn(ev); err != nil {
			return callbackError{err}
		}
		*next = ev.GetRevision() + 1
		return nil
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return delivered, err
		}
		delivered = true
		switch k := msg.GetKind().(type) {
		case *actionqueuev1.WatchRunsResponse_Event:
			if err := deliver(k.Event); err != nil {
				return delivered, err
			}
		case *actionqueuev1.WatchRunsResponse_Events:
			for _, ev := range k.Events.GetEvents() {
				if err := deliver(ev); err != nil {
					return delivered, err
				}
			}
		case *actionqueuev1.WatchRunsResponse_Progress:
			// Everything up to this revision has been considered: resume after it.
			if r := k.Progress.GetRevision(); r+1 > *next {
				*next = r + 1
			}
		}
	}
}
