// The module path of the ActionQueue Go client. The repository's own build and tests run in
// GOPATH mode against Debian's packaged sources (see README.md and scripts/go.sh), where this
// file is ignored; it is here so that the import paths are declared in one place and so that a
// module-mode user with proxy access can `go mod tidy` to resolve the requirements
// (google.golang.org/grpc >= 1.33, google.golang.org/protobuf >= 1.28,
// google.golang.org/genproto for googleapis/rpc/errdetails).
module github.com/actionqueue/actionqueue/clients/go

go 1.19
