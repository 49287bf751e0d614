// Package idempotency makes create requests safe to retry: the first result stored under the
// client's Idempotency-Key is returned for every later request with that key, and the key is
// written in the same transaction as the effect, so a crash can never leave one without the
// other. Concurrent requests with one key wait for the first to commit, then replay it.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/faas-commerce/faas-commerce/shared/fault"
	"github.com/faas-commerce/faas-commerce/shared/fn"
	"github.com/faas-commerce/faas-commerce/shared/pg"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// MaxKeyLength bounds a key.
const MaxKeyLength = 255

var (
	// ErrKeyReused: the key was first used for a different request.
	ErrKeyReused = fault.New(fault.Invalid, "idempotency_key_reused", "this Idempotency-Key was already used for a different request")
	// ErrInvalidKey: the key is empty, too long or not printable ASCII.
	ErrInvalidKey = fault.New(fault.Malformed, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters")
)

// CheckKey validates a key taken from a request header; "" means no key and is fine.
func CheckKey(key string) error {
	if len(key) > MaxKeyLength {
		return ErrInvalidKey
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return ErrInvalidKey
		}
	}
	return nil
}

// Table names a context's key table, e.g. Table{"catalog", "idempotency_keys"}.
type Table pgx.Identifier

// Do runs effect inside tx unless (scope, key) already holds a result, in which case it returns
// that result and replayed=true without running effect. request identifies what was asked
// (its hash is kept); the same key with a different request is ErrKeyReused. effect returns the
// bytes to store and replay. When effect fails, tx must be rolled back (pg.InTx does), which
// also forgets the key, so the request can be retried.
func Do(ctx context.Context, tx pgx.Tx, table Table, scope, key string, request []byte, effect func() ([]byte, error)) (result []byte, replayed bool, err error) {
	if key == "" {
		return nil, false, errors.New("idempotency: empty key")
	}
	name := pgx.Identifier(table).Sanitize()
	sum := sha256.Sum256(request)
	tag, err := tx.Exec(ctx, "INSERT INTO "+name+" (scope, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", scope, key, sum[:])
	if err != nil {
		return nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var hash, body []byte
		err := tx.QueryRow(ctx, "SELECT request_hash, body FROM "+name+" WHERE scope = $1 AND key = $2", scope, key).Scan(&hash, &body)
		if err != nil {
			return nil, false, fmt.Errorf("read idempotency key: %w", err)
		}
		if !bytes.Equal(hash, sum[:]) {
			return nil, false, ErrKeyReused
		}
		return body, true, nil
	}
	result, err = effect()
	if err != nil {
		return nil, false, err
	}
	if _, err := tx.Exec(ctx, "UPDATE "+name+" SET body = $3 WHERE scope = $1 AND key = $2", scope, key, result); err != nil {
		return nil, false, fmt.Errorf("store idempotent result: %w", err)
	}
	return result, false, nil
}

// Outcome says how a create was answered the first time.
type Outcome int

const (
	// Created a new record.
	Created Outcome = iota
	// Existing record matched the request's natural key and fields: a retry without a key.
	Existing
)

// Result is a create's answer.
type Result[T any] struct {
	Value   T
	Outcome Outcome
	// Replayed is true when the answer is the one stored under the request's key.
	Replayed bool
}

// Status is the HTTP status the first answer had: 201 for Created, 200 for Existing.
func (r Result[T]) Status() int {
	if r.Outcome == Existing {
		return 200
	}
	return 201
}

type stored[T any] struct {
	Outcome Outcome `json:"outcome"`
	Value   T       `json:"value"`
}

// Create runs insert in one transaction. Without a key that is all; with a key, the key is
// claimed in the same transaction and the result stored under it, and a later request with the
// same key gets that result back (Replayed) without running insert. request is what the client
// asked for, with defaults applied, so requests that mean the same hash the same.
func Create[T any](ctx context.Context, db pg.Beginner, table Table, scope, key string, request any, insert func(pgx.Tx) (T, Outcome, error)) (Result[T], error) {
	var res Result[T]
	err := pg.InTx(ctx, db, pg.TxOptions{}, func(tx pgx.Tx) error {
		res = Result[T]{}
		if key == "" {
			var err error
			res.Value, res.Outcome, err = insert(tx)
			return err
		}
		req, err := json.Marshal(request)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, replayed, err := Do(ctx, tx, table, scope, key, req, func() ([]byte, error) {
			v, o, err := insert(tx)
			if err != nil {
				return nil, err
			}
			return json.Marshal(stored[T]{Outcome: o, Value: v})
		})
		if err != nil {
			return err
		}
		var s stored[T]
		if err := json.Unmarshal(body, &s); err != nil {
			return fmt.Errorf("decode stored result: %w", err)
		}
		res = Result[T]{Value: s.Value, Outcome: s.Outcome, Replayed: replayed}
		return nil
	})
	return res, err
}

// Write answers a create with res: the first answer's status (201 or 200), the header
// Idempotent-Replayed on a replay, Location, ETag (when not empty) and the value as JSON.
func Write[T any](w http.ResponseWriter, res Result[T], location, etag string) {
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", location)
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	fn.JSON(w, res.Status(), res.Value)
}

// KeyFrom returns the request's Idempotency-Key ("" when none), checked.
func KeyFrom(r *http.Request) (string, error) {
	key := r.Header.Get(Header)
	return key, CheckKey(key)
}
