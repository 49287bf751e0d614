package provider

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"

	"github.com/openfaas/faas-provider/auth"
)

// Errors of the secret store.
var (
	ErrSecretNotFound = errors.New("secret not found")
	ErrSecretExists   = errors.New("secret already exists")
	ErrSecretName     = errors.New("secret name must be letters, digits, '.', '_' or '-'")
)

var secretName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// secretStore keeps secrets as files with mode 0600 in one directory (0700).
type secretStore struct {
	mu  sync.RWMutex
	dir string
}

func newSecretStore(dir string) (*secretStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets dir: %w", err)
	}
	return &secretStore{dir: dir}, nil
}

func (s *secretStore) list() ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && secretName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// put writes a secret; create demands it is new, otherwise it must exist.
func (s *secretStore) put(name string, value []byte, create bool) error {
	if !secretName.MatchString(name) {
		return ErrSecretName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, name)
	_, err := os.Stat(path)
	switch {
	case create && err == nil:
		return ErrSecretExists
	case !create && errors.Is(err, fs.ErrNotExist):
		return ErrSecretNotFound
	}
	return writeFileAtomic(path, value)
}

func (s *secretStore) remove(name string) error {
	if !secretName.MatchString(name) {
		return ErrSecretName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ErrSecretNotFound
		}
		return fmt.Errorf("remove secret: %w", err)
	}
	return nil
}

func (s *secretStore) missing(names []string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var missing []string
	for _, n := range names {
		if !secretName.MatchString(n) {
			missing = append(missing, n)
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, n)); err != nil {
			missing = append(missing, n)
		}
	}
	return missing
}

// project makes dir hold exactly the named secrets (copies, mode 0600): a function's secrets
// directory.
func (s *secretStore) project(dir string, names []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create function secrets dir: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	want := make(map[string]bool, len(names))
	for _, n := range names {
		if !secretName.MatchString(n) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed from the store: removed from the function too
		}
		if err != nil {
			return fmt.Errorf("read secret %s: %w", n, err)
		}
		want[n] = true
		if err := writeFileAtomic(filepath.Join(dir, n), b); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read function secrets dir: %w", err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale secret: %w", err)
			}
		}
	}
	return nil
}

func writeFileAtomic(path string, value []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", filepath.Base(path), err)
	}
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Files holding the admin credentials, inside StateDir/auth.
const (
	BasicAuthUserFile     = "basic-auth-user"
	BasicAuthPasswordFile = "basic-auth-password"
)

// ensureCredentials generates admin credentials in dir at first start and reads them.
func ensureCredentials(dir string) (*auth.BasicAuthCredentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create auth dir: %w", err)
	}
	userPath := filepath.Join(dir, BasicAuthUserFile)
	if _, err := os.Stat(userPath); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(userPath, []byte("admin")); err != nil {
			return nil, err
		}
	}
	passPath := filepath.Join(dir, BasicAuthPasswordFile)
	if _, err := os.Stat(passPath); errors.Is(err, fs.ErrNotExist) {
		buf := make([]byte, 24)
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("generate password: %w", err)
		}
		if err := writeFileAtomic(passPath, []byte(base64.RawURLEncoding.EncodeToString(buf))); err != nil {
			return nil, err
		}
	}
	reader := auth.ReadBasicAuthFromDisk{SecretMountPath: dir}
	creds, err := reader.Read()
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return creds, nil
}
