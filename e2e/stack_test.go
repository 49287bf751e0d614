package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openfaas/go-sdk/stack"
	"golang.org/x/mod/modfile"
	"gopkg.in/yaml.v3"
)

const modulePrefix = "github.com/faas-commerce/faas-commerce/"

func loadStack(t *testing.T, root string, env map[string]string) *stack.Services {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	s, err := stack.ParseYAMLFile(filepath.Join(root, "stack.yml"), "", "", true)
	if err != nil {
		t.Fatalf("parse stack.yml: %v", err)
	}
	return s
}

// TestStackMatchesFunctions checks that stack.yml and functions/ describe the same functions,
// each with a handler module of its own, the project template, a well-formed image, the
// database secret when it uses the database, and environment files for every environment.
func TestStackMatchesFunctions(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	s := loadStack(t, root, nil)
	if s.Provider.Name != "openfaas" {
		t.Errorf("provider %q, want openfaas", s.Provider.Name)
	}
	if !slices.Contains(s.StackConfiguration.CopyExtraPaths, "./shared") || !slices.Contains(s.StackConfiguration.CopyExtraPaths, "./migrations") {
		t.Errorf("configuration.copy is %v; it must bring ./shared and ./migrations into each build", s.StackConfiguration.CopyExtraPaths)
	}
	dirs, err := FunctionDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no functions found under functions/")
	}
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	inStack := map[string]bool{}
	image := regexp.MustCompile(`^[a-z0-9.\-/:]+/([a-z0-9-]+):[A-Za-z0-9._-]+$`)
	for name, f := range s.Functions {
		handler := filepath.Clean(f.Handler)
		inStack[handler] = true
		t.Run(name, func(t *testing.T) {
			if filepath.Base(handler) != name || filepath.Dir(filepath.Dir(handler)) != "functions" {
				t.Errorf("handler %q: want functions/<context>/%s", f.Handler, name)
			}
			if f.Language != "golang-fc" {
				t.Errorf("lang %q, want golang-fc", f.Language)
			}
			if _, err := os.Stat(filepath.Join(root, "template", f.Language, "template.yml")); err != nil {
				t.Errorf("template %s: %v", f.Language, err)
			}
			m := image.FindStringSubmatch(f.Image)
			if m == nil || m[1] != name {
				t.Errorf("image %q: want <registry>/%s:<tag>", f.Image, name)
			}
			gomod, err := os.ReadFile(filepath.Join(root, handler, "go.mod"))
			if err != nil {
				t.Fatalf("handler folder: %v", err)
			}
			mf, err := modfile.ParseLax("go.mod", gomod, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := modulePrefix + handler; mf.Module.Mod.Path != want {
				t.Errorf("module %q, want %q", mf.Module.Mod.Path, want)
			}
			if _, err := os.Stat(filepath.Join(root, handler, "handler.go")); err != nil {
				t.Error(err)
			}
			if !strings.Contains(string(work), "./"+handler+"\n") {
				t.Errorf("go.work does not use ./%s", handler)
			}
			src, err := os.ReadFile(filepath.Join(root, handler, "handler.go"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), "deps.Setup") && !slices.Contains(f.Secrets, "database-url") {
				t.Errorf("uses the database but has no database-url secret (secrets %v)", f.Secrets)
			}
			for k, v := range f.Environment {
				if k != "AUTH_PUBLIC" || v != "true" {
					t.Errorf("inline environment %s=%s: settings belong in the per-environment files; only AUTH_PUBLIC=true is declared per function", k, v)
				}
			}
			consumes := strings.Contains(string(src), "inbox.Route(")
			var topic string
			if f.Annotations != nil {
				topic = (*f.Annotations)["topic"]
			}
			if consumes != (topic != "") {
				t.Errorf("consumes events: %v, topic annotation %q: a queue-triggered function needs one, an HTTP one none", consumes, topic)
			}
			if consumes && f.Environment["AUTH_PUBLIC"] != "" {
				t.Error("a queue-triggered function cannot be public")
			}
		})
	}
	for _, d := range dirs {
		if !inStack[d] {
			t.Errorf("%s has no entry in stack.yml", d)
		}
	}
}

// TestStackEnvironments checks that ENV picks an environment file that exists, for every
// environment the project ships, and that they set the same keys.
func TestStackEnvironments(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, env := range []string{"dev", "prod"} {
		s := loadStack(t, root, map[string]string{"ENV": env, "REGISTRY": "registry.example/shop", "TAG": "1.2.3"})
		for name, f := range s.Functions {
			if !strings.HasPrefix(f.Image, "registry.example/shop/"+name+":1.2.3") {
				t.Errorf("%s: REGISTRY and TAG not applied: %s", name, f.Image)
			}
			if len(f.EnvironmentFile) == 0 {
				t.Errorf("%s: no environment_file", name)
			}
			for _, file := range f.EnvironmentFile {
				if !strings.Contains(file, env) {
					t.Errorf("%s: ENV=%s chose %s", name, env, file)
				}
				var ef stack.EnvironmentFile
				b, err := os.ReadFile(filepath.Join(root, file))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := yaml.Unmarshal(b, &ef); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				var k []string
				for key := range ef.Environment {
					k = append(k, key)
				}
				slices.Sort(k)
				keys[env] = k
			}
		}
	}
	if !slices.Equal(keys["dev"], keys["prod"]) {
		t.Errorf("dev sets %v, prod sets %v: every environment must set the same keys", keys["dev"], keys["prod"])
	}
}
