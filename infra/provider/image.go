package provider

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrImageNotResolved means a deployment's image does not name a function binary.
var ErrImageNotResolved = errors.New("image does not resolve to a function binary")

var binaryName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// BinaryName applies the image rule: the image's last path element without tag or digest is the
// binary name. "ghcr.io/faas-commerce/get-product:dev" -> "get-product".
func BinaryName(image string) (string, error) {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.Index(ref, ":"); i >= 0 {
		ref = ref[:i]
	}
	if !binaryName.MatchString(ref) {
		return "", fmt.Errorf("%w: %q has no usable last path element", ErrImageNotResolved, image)
	}
	return ref, nil
}

// resolveImage returns the path of the executable an image resolves to in binDir.
func resolveImage(binDir, image string) (string, error) {
	name, err := BinaryName(image)
	if err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(binDir, name))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", name, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: %q resolves to %s, which is not an executable file (build it with make build)", ErrImageNotResolved, image, path)
	}
	return path, nil
}
