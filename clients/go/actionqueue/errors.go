package actionqueue

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the google.rpc.ErrorInfo domain of every error the server returns.
const Domain = "actionqueue.v1"

// Reason is a google.rpc.ErrorInfo reason, the ErrorReason enum name without its
// "ERROR_REASON_" prefix (proto/actionqueue/v1/errors.proto documents each one with the
// status code and metadata keys it comes with).
type Reason string

// The reasons a client usually branches on. Any other reason the server sends is kept
// verbatim in Error.Reason.
const (
	ReasonInvalidArgument       Reason = "INVALID_ARGUMENT"
	ReasonTaskNotFound          Reason = "TASK_NOT_FOUND"
	ReasonRunNotFound           Reason = "RUN_NOT_FOUND"
	ReasonTaskConflict          Reason = "TASK_CONFLICT"
	ReasonInvalidTransition     Reason = "INVALID_TRANSITION"
	ReasonLeaseLost             Reason = "LEASE_LOST"
	ReasonRunTerminal           Reason = "RUN_TERMINAL"
	ReasonQueuePaused           Reason = "QUEUE_PAUSED"
	ReasonEnginePaused          Reason = "ENGINE_PAUSED"
	ReasonAttemptMismatch       Reason = "ATTEMPT_MISMATCH"
	ReasonNoActiveAttempt       Reason = "NO_ACTIVE_ATTEMPT"
	ReasonTaskTerminal          Reason = "TASK_TERMINAL"
	ReasonStorageQuota          Reason = "STORAGE_QUOTA"
	ReasonRevisionPurged        Reason = "REVISION_PURGED"
	ReasonWatchTooSlow          Reason = "WATCH_TOO_SLOW"
	ReasonShuttingDown          Reason = "SHUTTING_DOWN"
	ReasonOverloaded            Reason = "OVERLOADED"
	ReasonMalformedMessage      Reason = "MALFORMED_MESSAGE"
	ReasonTaskIDReserved        Reason = "TASK_ID_RESERVED"
	ReasonMessageTooLarge       Reason = "MESSAGE_TOO_LARGE"
	ReasonDependencyCycle       Reason = "DEPENDENCY_CYCLE"
	ReasonHierarchyTooDeep      Reason = "HIERARCHY_TOO_DEEP"
	ReasonPriorityRequiresReady Reason = "PRIORITY_REQUIRES_READY"
	ReasonAttemptCountOverflow  Reason = "ATTEMPT_COUNT_OVERFLOW"
)

// FieldViolation is one entry of a google.rpc.BadRequest: which request field is wrong and why.
type FieldViolation struct {
	// Field is the path of the field, e.g. "spec.queue".
	Field string
	// Description says what is wrong with it.
	Description string
}

// Error is an ActionQueue error decoded from a gRPC status and its details. Every error a
// Client call returns (other than io.EOF at the end of a stream) is an *Error.
//
// Match it with errors.Is against the sentinels (errors.Is(err, ErrLeaseLost)), with the Is*
// helpers, or take it apart with errors.As:
//
//	var aqErr *actionqueue.Error
//	if errors.As(err, &aqErr) && aqErr.Reason == actionqueue.ReasonRunNotFound { ... aqErr.Metadata["run_id"] ... }
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Reason is the ErrorInfo reason ("" when the status carried no ErrorInfo, e.g. a
	// transport failure such as Unavailable before the server answered).
	Reason Reason
	// Message is the status message.
	Message string
	// Metadata holds the ids involved (run_id, task_id, lease token owner, limits, ...).
	Metadata map[string]string
	// FieldViolations lists the BadRequest violations of an INVALID_ARGUMENT.
	FieldViolations []FieldViolation

	status *status.Status
	cause  error
}

// Error formats "actionqueue: <CODE> <REASON>: <message>".
func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("actionqueue: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("actionqueue: %s %s: %s", e.Code, e.Reason, e.Message)
}

// GRPCStatus returns the original status, so status.Code(err) and status.FromError(err)
// keep working on an *Error.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(e.Code, e.Message)
}

// Unwrap returns the grpc-go status error the Error was decoded from (nil for sentinels).
func (e *Error) Unwrap() error { return e.cause }

// Is makes errors.Is(err, sentinel) true when err is an *Error with the sentinel's reason or,
// for a sentinel without a reason (ErrUnavailable, ErrNotFound, ...), with its code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.Reason != "" {
		return e.Reason == t.Reason
	}
	return e.Code == t.Code
}

// Field returns the description of the violation of field path, and whether there is one.
func (e *Error) Field(path string) (string, bool) {
	for _, v := range e.FieldViolations {
		if v.Field == path {
			return v.Description, true
		}
	}
	return "", false
}

// Sentinels for errors.Is. Reason sentinels match on the ErrorInfo reason; code sentinels
// (no reason) match on the status code alone.
var (
	ErrInvalidArgument   = &Error{Code: codes.InvalidArgument, Reason: ReasonInvalidArgument}
	ErrTaskNotFound      = &Error{Code: codes.NotFound, Reason: ReasonTaskNotFound}
	ErrRunNotFound       = &Error{Code: codes.NotFound, Reason: ReasonRunNotFound}
	ErrTaskConflict      = &Error{Code: codes.AlreadyExists, Reason: ReasonTaskConflict}
	ErrInvalidTransition = &Error{Code: codes.FailedPrecondition, Reason: ReasonInvalidTransition}
	ErrLeaseLost         = &Error{Code: codes.FailedPrecondition, Reason: ReasonLeaseLost}
	ErrRunTerminal       = &Error{Code: codes.FailedPrecondition, Reason: ReasonRunTerminal}
	ErrQueuePaused       = &Error{Code: codes.FailedPrecondition, Reason: ReasonQueuePaused}
	ErrRevisionPurged    = &Error{Code: codes.OutOfRange, Reason: ReasonRevisionPurged}
	ErrWatchTooSlow      = &Error{Code: codes.ResourceExhausted, Reason: ReasonWatchTooSlow}
	ErrShuttingDown      = &Error{Code: codes.Unavailable, Reason: ReasonShuttingDown}

	// ErrNotFound matches any NOT_FOUND (task, run or attempt).
	ErrNotFound = &Error{Code: codes.NotFound}
	// ErrUnavailable matches any UNAVAILABLE: the server is down, restarting or shutting down.
	ErrUnavailable = &Error{Code: codes.Unavailable}
)

// FromError decodes err into an *Error. It returns err unchanged when err is nil, already
// carries an *Error, or is not a gRPC status error (io.EOF, context errors from outside a call).
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var aq *Error
	if errors.As(err, &aq) {
		return err
	}
	// grpc-go 1.33's status.FromError does not unwrap, so look for the interface ourselves.
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return err
	}
	st := se.GRPCStatus()
	out := &Error{Code: st.Code(), Message: st.Message(), status: st, cause: err}
	// Details() resolves each Any through the protobuf registry; genproto's errdetails
	// registers google.rpc.ErrorInfo and google.rpc.BadRequest (imported above).
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			out.Reason = Reason(d.GetReason())
			out.Metadata = d.GetMetadata()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out.FieldViolations = append(out.FieldViolations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return out
}

// AsError returns err's *Error, or nil when err is not an ActionQueue/gRPC error.
func AsError(err error) *Error {
	var aq *Error
	if errors.As(FromError(err), &aq) {
		return aq
	}
	return nil
}

// ReasonOf returns the ErrorInfo reason of err ("" when there is none).
func ReasonOf(err error) Reason {
	if aq := AsError(err); aq != nil {
		return aq.Reason
	}
	return ""
}

// CodeOf returns the gRPC code of err: codes.OK for nil, codes.Unknown for a non-gRPC error.
func CodeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if aq := AsError(err); aq != nil {
		return aq.Code
	}
	return codes.Unknown
}

// IsLeaseLost reports whether err says the lease token no longer owns the run.
func IsLeaseLost(err error) bool { return ReasonOf(err) == ReasonLeaseLost }

// IsNotFound reports whether err is a NOT_FOUND (unknown task, run or attempt).
func IsNotFound(err error) bool { return CodeOf(err) == codes.NotFound }

// IsInvalidArgument reports whether err is an INVALID_ARGUMENT (see Error.FieldViolations).
func IsInvalidArgument(err error) bool { return CodeOf(err) == codes.InvalidArgument }

// IsUnavailable reports whether err is an UNAVAILABLE: retry after a backoff.
func IsUnavailable(err error) bool { return CodeOf(err) == codes.Unavailable }
