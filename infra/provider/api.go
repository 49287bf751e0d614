package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/openfaas/faas-provider/types"
)

var functionName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const maxAPIBody = 1 << 20

// apiError is the JSON body of every error the provider answers.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "request body is not valid JSON: %v", err)
		return false
	}
	return true
}

// trimNamespace turns "name.openfaas-fn" into "name".
func trimNamespace(name string) string { return strings.TrimSuffix(name, "."+Namespace) }

func validNamespace(ns string) bool { return ns == "" || ns == Namespace }

func (p *Provider) listFunctions(w http.ResponseWriter, r *http.Request) {
	if !validNamespace(r.URL.Query().Get("namespace")) {
		writeError(w, http.StatusBadRequest, "namespace %q does not exist; the only namespace is %s", r.URL.Query().Get("namespace"), Namespace)
		return
	}
	p.mu.RLock()
	fns := make([]*function, 0, len(p.functions))
	for _, f := range p.functions {
		fns = append(fns, f)
	}
	p.mu.RUnlock()
	slices.SortFunc(fns, func(a, b *function) int { return strings.Compare(a.name, b.name) })
	out := make([]FunctionStatus, 0, len(fns))
	for _, f := range fns {
		out = append(out, f.status())
	}
	writeJSON(w, http.StatusOK, out)
}

// validate checks a deployment and derives what the provider needs from it; the error is the
// client's mistake, phrased for them.
func (p *Provider) validate(spec types.FunctionDeployment) (deployment, error) {
	d := deployment{spec: spec}
	if !functionName.MatchString(spec.Service) {
		return d, fmt.Errorf("service %q is not a valid function name (lower-case letters, digits and '-')", spec.Service)
	}
	if !validNamespace(spec.Namespace) {
		return d, fmt.Errorf("namespace %q does not exist; the only namespace is %s", spec.Namespace, Namespace)
	}
	d.spec.Namespace = Namespace
	var err error
	if d.binary, err = resolveImage(p.binDir, spec.Image); err != nil {
		return d, err
	}
	var labels map[string]string
	if spec.Labels != nil {
		labels = *spec.Labels
	}
	if d.scale, err = parseScaling(labels, p.cfg.DefaultZeroDuration); err != nil {
		return d, err
	}
	if spec.Limits != nil && spec.Limits.Memory != "" {
		if d.memLimit, err = parseMemory(spec.Limits.Memory); err != nil {
			return d, err
		}
	}
	if missing := p.secrets.missing(spec.Secrets); len(missing) > 0 {
		return d, fmt.Errorf("secrets %s do not exist; create them with faas-cli secret create", strings.Join(missing, ", "))
	}
	return d, nil
}

func (p *Provider) deployFunction(w http.ResponseWriter, r *http.Request) {
	p.deploy(w, r, false)
}

func (p *Provider) updateFunction(w http.ResponseWriter, r *http.Request) {
	p.deploy(w, r, true)
}

// deploy creates a function (POST) or replaces its deployment (PUT; POST of an existing name
// replaces it too).
func (p *Provider) deploy(w http.ResponseWriter, r *http.Request, mustExist bool) {
	var spec types.FunctionDeployment
	if !decodeBody(w, r, &spec) {
		return
	}
	d, err := p.validate(spec)
	if err != nil {
		writeError(w, http.StatusBadRequest, "deploy %s: %v", spec.Service, err)
		return
	}
	p.mu.Lock()
	f, exists := p.functions[d.spec.Service]
	if !exists {
		if mustExist {
			p.mu.Unlock()
			writeError(w, http.StatusNotFound, "function %s not found", d.spec.Service)
			return
		}
		f = newFunction(p, d)
		p.functions[f.name] = f
	}
	p.mu.Unlock()
	p.saveDeployment(d.spec)

	if exists {
		f.replace(d)
		p.log.Info("function updated", "function", f.name, "image", d.spec.Image, "binary", d.binary)
	} else {
		f.setDesired(d.scale.min)
		p.log.Info("function deployed", "function", f.name, "image", d.spec.Image, "binary", d.binary, "replicas", d.scale.min)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (p *Provider) deleteFunction(w http.ResponseWriter, r *http.Request) {
	var req types.DeleteFunctionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !validNamespace(req.Namespace) {
		writeError(w, http.StatusBadRequest, "namespace %q does not exist", req.Namespace)
		return
	}
	name := trimNamespace(req.FunctionName)
	p.mu.Lock()
	f, ok := p.functions[name]
	delete(p.functions, name)
	p.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "function %s not found", name)
		return
	}
	p.forgetDeployment(name)
	f.shutdown()
	p.log.Info("function removed", "function", name)
	w.WriteHeader(http.StatusAccepted)
}

func (p *Provider) functionStatus(w http.ResponseWriter, r *http.Request) {
	name := trimNamespace(r.PathValue("name"))
	f, ok := p.lookup(name)
	if !ok {
		writeError(w, http.StatusNotFound, "function %s not found", name)
		return
	}
	writeJSON(w, http.StatusOK, f.status())
}

func (p *Provider) scaleFunction(w http.ResponseWriter, r *http.Request) {
	name := trimNamespace(r.PathValue("name"))
	var req types.ScaleServiceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	f, ok := p.lookup(name)
	if !ok {
		writeError(w, http.StatusNotFound, "function %s not found", name)
		return
	}
	f.setDesired(int(min(req.Replicas, 1000)))
	w.WriteHeader(http.StatusAccepted)
}

func (p *Provider) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, types.ProviderInfo{
		Name:          "faas-commerce-provider",
		Orchestration: "process",
		Version:       &types.VersionInfo{Release: Version, SHA: Version},
	})
}

func (p *Provider) namespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []string{Namespace})
}

func (p *Provider) secretsHandler(w http.ResponseWriter, r *http.Request) {
	if !validNamespace(r.URL.Query().Get("namespace")) {
		writeError(w, http.StatusBadRequest, "namespace %q does not exist", r.URL.Query().Get("namespace"))
		return
	}
	if r.Method == http.MethodGet {
		names, err := p.secrets.list()
		if err != nil {
			p.log.Error("list secrets", "error", err)
			writeError(w, http.StatusInternalServerError, "could not list secrets")
			return
		}
		out := make([]types.Secret, 0, len(names))
		for _, n := range names {
			out = append(out, types.Secret{Name: n, Namespace: Namespace})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	var s types.Secret
	if !decodeBody(w, r, &s) {
		return
	}
	if !validNamespace(s.Namespace) {
		writeError(w, http.StatusBadRequest, "namespace %q does not exist", s.Namespace)
		return
	}
	value := s.RawValue
	if len(value) == 0 {
		value = []byte(s.Value)
	}
	var err error
	status := http.StatusOK
	switch r.Method {
	case http.MethodPost:
		err, status = p.secrets.put(s.Name, value, true), http.StatusCreated
	case http.MethodPut:
		err = p.secrets.put(s.Name, value, false)
	case http.MethodDelete:
		err, status = p.secrets.remove(s.Name), http.StatusAccepted
	default:
		writeError(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		return
	}
	switch {
	case errors.Is(err, ErrSecretName):
		writeError(w, http.StatusBadRequest, "secret %q: %v", s.Name, err)
	case errors.Is(err, ErrSecretExists):
		writeError(w, http.StatusConflict, "secret %s already exists", s.Name)
	case errors.Is(err, ErrSecretNotFound):
		writeError(w, http.StatusNotFound, "secret %s not found", s.Name)
	case err != nil:
		p.log.Error("change secret", "error", err)
		writeError(w, http.StatusInternalServerError, "could not change secret %s", s.Name)
	default:
		p.refreshSecrets(s.Name)
		w.WriteHeader(status)
	}
}

// refreshSecrets updates the secrets directory of every function that uses the named secret.
func (p *Provider) refreshSecrets(name string) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, f := range p.functions {
		names := f.secretNames()
		if !slices.Contains(names, name) {
			continue
		}
		if err := p.secrets.project(f.secretsDir, names); err != nil {
			p.log.Warn("refresh function secrets", "function", f.name, "error", err)
		}
	}
}
