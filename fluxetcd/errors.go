package fluxetcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/fluxmap/fluxmap"
)

// Sentinel errors of this package. Errors that mean the same as on the
// embedded engine wrap fluxmap's sentinels instead (fluxmap.ErrConflict,
// fluxmap.ErrClosed, fluxmap.ErrTxnDone, fluxmap.ErrReadOnly,
// fluxmap.ErrTxnTooLarge, fluxmap.ErrCommitUnknown, fluxmap.ErrConfig,
// fluxmap.ErrInvalidArgument). Test for all of them with errors.Is.
var (
	// ErrUnavailable means the cluster did not answer: no member reachable,
	// no leader (quorum lost), or no answer before the context's deadline.
	// When the client had no connection at all (an unreachable cluster, a
	// failed TLS handshake), the message says so.
	// A read that fails with it read nothing; a write or commit that fails
	// with it also wraps fluxmap.ErrCommitUnknown, as the request may have
	// been applied: read before repeating it.
	ErrUnavailable = errors.New("fluxetcd: etcd cluster unavailable")
	// ErrAccessDenied means the cluster refused the client's credentials
	// or the user lacks permission on the database's key prefix. Nothing
	// was read or written.
	ErrAccessDenied = errors.New("fluxetcd: access denied by the etcd cluster")
	// ErrCompacted means a transaction's snapshot revision was compacted
	// away while it still had reads to do. It also wraps
	// fluxmap.ErrConflict, so Transaction retries on a fresh snapshot.
	ErrCompacted = errors.New("fluxetcd: snapshot revision compacted")
)

// classify maps an error from the etcd client onto this package's and
// fluxmap's sentinels, keeping the original error in the chain. ctx is the
// call's context; mayHaveApplied says whether the failed request could have
// changed the data (a write that reached the cluster).
func (db *DB[K, V]) classify(ctx context.Context, op string, err error, mayHaveApplied bool) error {
	if err == nil {
		return nil
	}
	if db.client.Ctx().Err() != nil {
		// The client was closed under the call; whatever the transport
		// said, that is why it failed.
		return fmt.Errorf("fluxetcd: %s: %w (etcd client closed): %w", op, fluxmap.ErrClosed, err)
	}
	unknown := func(e error) error {
		if mayHaveApplied {
			return fmt.Errorf("%w: %w", fluxmap.ErrCommitUnknown, e)
		}
		return e
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("fluxetcd: %s: %w: no answer before the context's deadline%s: %w", op, unknown(ErrUnavailable), db.connectionHint(), cerr)
		}
		return fmt.Errorf("fluxetcd: %s: %w", op, unknown(cerr))
	}
	switch {
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("fluxetcd: %s: %w: refused by the cluster: %w", op, fluxmap.ErrTxnTooLarge, err)
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("fluxetcd: %s: %w: %w: %w", op, ErrCompacted, fluxmap.ErrConflict, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrInvalidAuthToken),
		errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrAuthOldRevision):
		return fmt.Errorf("fluxetcd: %s: %w: %w", op, ErrAccessDenied, err)
	case errors.Is(err, rpctypes.ErrNoSpace), errors.Is(err, rpctypes.ErrTooManyRequests):
		return fmt.Errorf("fluxetcd: %s: %w", op, unknown(err))
	}
	switch code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		return fmt.Errorf("fluxetcd: %s: %w: %w", op, ErrAccessDenied, err)
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("fluxetcd: %s: %w: %w", op, unknown(ErrUnavailable), err)
	case codes.ResourceExhausted:
		// gRPC's own message size limit (the cluster's other resource
		// errors were matched above).
		return fmt.Errorf("fluxetcd: %s: %w: %w", op, fluxmap.ErrTxnTooLarge, err)
	}
	return fmt.Errorf("fluxetcd: %s: %w", op, unknown(err))
}

// code returns the gRPC status code carried by err, from either an
// rpctypes.EtcdError or a gRPC status.
func code(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}

// connectionHint says, for a request that got no answer before its
// deadline, whether the client had no usable connection at all. The etcd
// client keeps such a request waiting for a connection and then returns
// only the context's error, dropping the transport's reason; the
// connection's state still tells an unreachable cluster, or one whose TLS
// handshake fails (a missing or untrusted certificate), from a reachable
// one that did not answer (quorum lost).
func (db *DB[K, V]) connectionHint() string {
	conn := db.client.ActiveConnection()
	if conn == nil || conn.GetState() != connectivity.TransientFailure {
		return ""
	}
	return " (no connection to any endpoint: unreachable, or the TLS handshake failed, e.g. a missing or untrusted client certificate)"
}
