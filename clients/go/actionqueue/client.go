// Package actionqueue is a thin, idiomatic Go client for the ActionQueue service.
//
// The generated gRPC stubs live in github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1
// (package actionqueuev1, written by `buf generate --template buf.gen.go.yaml`); this package
// adds what every caller would otherwise write by hand:
//
//   - Dial, returning a Client with the four service clients on one connection;
//   - typed errors: every error a call returns is an *Error carrying the status code, the
//     google.rpc.ErrorInfo reason and metadata and the google.rpc.BadRequest field violations,
//     usable with errors.Is (ErrLeaseLost, ErrRunNotFound, ...) and errors.As;
//   - Worker, a lease / heartbeat / complete loop (see NewWorker);
//   - Watch, a WatchRuns reader that resumes after a disconnect without gap or duplicate.
package actionqueue

import (
	"context"
	"crypto/tls"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	actionqueuev1 "github.com/actionqueue/actionqueue/clients/go/gen/actionqueue/v1"
)

// DefaultTarget is the address `npm start` serves on.
const DefaultTarget = "127.0.0.1:50051"

// Client holds one gRPC connection and the four ActionQueue service clients over it. Errors
// returned by every method of every service client are *Error values (see FromError). A
// Client is safe for concurrent use; Close it when done.
type Client struct {
	// Tasks submits, reads, lists and cancels tasks.
	Tasks actionqueuev1.TaskServiceClient
	// Runs reads, lists, cancels, suspends, resumes, re-prioritises and watches runs.
	Runs actionqueuev1.RunServiceClient
	// Workers leases runs and reports attempts (see also Worker).
	Workers actionqueuev1.WorkerServiceClient
	// Admin pauses and resumes the engine and queues, and reads stats and key holders.
	Admin actionqueuev1.AdminServiceClient

	conn *grpc.ClientConn
}

// Option configures Dial.
type Option func(*dialOptions)

type dialOptions struct {
	token string
	tls   *tls.Config
	extra []grpc.DialOption
}

// WithToken sends `authorization: Bearer <token>` on every call (the server maps tokens to
// roles). Without WithTLS the token travels in clear text, which is only sensible on loopback.
func WithToken(token string) Option {
	return func(o *dialOptions) { o.token = token }
}

// WithTLS connects over TLS with the given configuration (nil fields mean Go's defaults;
// set Certificates for mutual TLS). Without it the connection is plaintext HTTP/2 (h2c),
// which is what `npm start` serves.
func WithTLS(cfg *tls.Config) Option {
	return func(o *dialOptions) {
		if cfg == nil {
			cfg = &tls.Config{}
		}
		o.tls = cfg
	}
}

// WithDialOptions appends raw grpc-go dial options (interceptors, keepalive, ...). They are
// applied after the options this package sets, so they can override them.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *dialOptions) { o.extra = append(o.extra, opts...) }
}

// Dial creates a Client for target ("host:port", or any grpc-go target such as
// "dns:///queue.internal:443"). Like grpc.Dial it does not wait for the connection: the
// first call connects, and a server that is down makes calls fail with codes.Unavailable
// (ErrUnavailable). Dial fails only on invalid options.
func Dial(target string, opts ...Option) (*Client, error) {
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	dopts := []grpc.DialOption{
		// Every error leaves the client as an *Error, decoded once here rather than at each
		// call site; *Error still implements GRPCStatus(), so status.Code(err) keeps working.
		grpc.WithChainUnaryInterceptor(unaryErrorInterceptor),
		grpc.WithChainStreamInterceptor(streamErrorInterceptor),
	}
	if o.tls != nil {
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	} else {
		dopts = append(dopts, grpc.WithInsecure())
	}
	if o.token != "" {
		dopts = append(dopts, grpc.WithPerRPCCredentials(bearer{token: o.token, secure: o.tls != nil}))
	}
	dopts = append(dopts, o.extra...)
	conn, err := grpc.Dial(target, dopts...)
	if err != nil {
		return nil, err
	}
	return &Client{
		Tasks:   actionqueuev1.NewTaskServiceClient(conn),
		Runs:    actionqueuev1.NewRunServiceClient(conn),
		Workers: actionqueuev1.NewWorkerServiceClient(conn),
		Admin:   actionqueuev1.NewAdminServiceClient(conn),
		conn:    conn,
	}, nil
}

// Conn returns the underlying connection (for the health service, reflection, ...).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection; calls in flight fail with codes.Canceled.
func (c *Client) Close() error { return c.conn.Close() }

// bearer implements credentials.PerRPCCredentials for a static bearer token.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false on plaintext connections so that tokens work against a
// loopback server without TLS (grpc-go would otherwise refuse to send them).
func (b bearer) RequireTransportSecurity() bool { return b.secure }

func unaryErrorInterceptor(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return FromError(err)
	}
	return nil
}

func streamErrorInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, FromError(err)
	}
	return errorStream{s}, nil
}

// errorStream converts the errors of a client stream; io.EOF (clean end) passes through.
type errorStream struct{ grpc.ClientStream }

func (s errorStream) RecvMsg(m interface{}) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return FromError(err)
	}
	return nil
}

func (s errorStream) SendMsg(m interface{}) error {
	if err := s.ClientStream.SendMsg(m); err != nil {
		return FromError(err)
	}
	return nil
}
