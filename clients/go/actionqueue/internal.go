package actionqueue

import (
	"context"
	"time"
)

// detached keeps a parent's values but never ends (context.WithoutCancel is Go 1.21).
type detached struct{ parent context.Context }

func (d detached) Deadline() (time.Time, bool)       { return time.Time{}, false }
func (d detached) Done() <-chan struct{}             { return nil }
func (d detached) Err() error                        { return nil }
func (d detached) Value(key interface{}) interface{} { return d.parent.Value(key) }

// backoff doubles from 100 ms to 5 s.
type backoffState struct{ d time.Duration }

func newBackoff() *backoffState { return &backoffState{} }

func (b *backoffState) reset() { b.d = 0 }

func (b *backoffState) next() time.Duration {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else if b.d *= 2; b.d > 5*time.Second {
		b.d = 5 * time.Second
	}
	return b.d
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
