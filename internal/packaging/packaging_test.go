package packaging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ctsync/ctsync/internal/config"
)

// root is the repository's top, from this package's directory.
const root = "../.."

const (
	k8sDir      = "deploy/kubernetes"
	unitFile    = "deploy/systemd/ctsync.service"
	alertsFile  = "deploy/prometheus/ctsync-alerts.yml"
	secretsDir  = "/etc/ctsync/secrets/" // where the Deployment mounts the Secret
	listenPort  = 9464                   // the port docs/operating.md and config.toml give
	nonrootUID  = 65532                  // distroless's nonroot, the Dockerfile's USER
	exampleFile = "secret.example.yaml"  // documented, deliberately not in the base
)

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// object is one YAML document of a manifest file.
type object struct {
	file string
	doc  map[string]any
}

func (o object) kind() string { s, _ := dig(o.doc, "kind").(string); return s }
func (o object) name() string { s, _ := dig(o.doc, "metadata", "name").(string); return s }

// decodeAll decodes every document of a YAML stream.
func decodeAll(t *testing.T, file string, data []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// manifests parses every YAML file under deploy/kubernetes.
func manifests(t *testing.T) []object {
	t.Helper()
	var objs []object
	err := filepath.WalkDir(filepath.Join(root, k8sDir), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(root, k8sDir), path)
		for _, doc := range decodeAll(t, rel, data) {
			objs = append(objs, object{file: filepath.ToSlash(rel), doc: doc})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("no manifests under " + k8sDir)
	}
	return objs
}

func find(t *testing.T, objs []object, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o.doc
		}
	}
	t.Fatalf("no %s %q in %s", kind, name, k8sDir)
	return nil
}

// dig walks maps by key and lists by index; nil when a step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func container(t *testing.T, deploy map[string]any, name string) map[string]any {
	t.Helper()
	cs, _ := dig(deploy, "spec", "template", "spec", "containers").([]any)
	for _, c := range cs {
		if dig(c, "name") == name {
			return c.(map[string]any)
		}
	}
	t.Fatalf("no container %q", name)
	return nil
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// TestManifestsParse: every manifest is YAML with a kind and a name, none
// fixes a namespace (the base is namespace-less), every kustomization's
// resources exist, and every manifest is in a kustomization (only the
// example Secret is left out, on purpose).
func TestManifestsParse(t *testing.T) {
	objs := manifests(t)
	listed := map[string]bool{}
	files := map[string]bool{}
	for _, o := range objs {
		files[o.file] = true
		if o.kind() == "" || dig(o.doc, "apiVersion") == nil {
			t.Errorf("%s: a document without apiVersion or kind", o.file)
			continue
		}
		if o.kind() == "Kustomization" {
			dir := filepath.Dir(o.file)
			res, _ := dig(o.doc, "resources").([]any)
			for _, r := range res {
				p := filepath.ToSlash(filepath.Join(dir, r.(string)))
				fi, err := os.Stat(filepath.Join(root, k8sDir, p))
				switch {
				case err != nil:
					t.Errorf("%s: resource %s: %v", o.file, r, err)
				case fi.IsDir():
					if _, err := os.Stat(filepath.Join(root, k8sDir, p, "kustomization.yaml")); err != nil {
						t.Errorf("%s: resource %s is a directory without kustomization.yaml", o.file, r)
					}
				default:
					listed[p] = true
				}
			}
			continue
		}
		if o.name() == "" {
			t.Errorf("%s: %s without metadata.name", o.file, o.kind())
		}
		if ns := dig(o.doc, "metadata", "namespace"); ns != nil {
			t.Errorf("%s: %s %s fixes namespace %v; the base is namespace-less", o.file, o.kind(), o.name(), ns)
		}
	}
	for f := range files {
		isExample := filepath.Base(f) == exampleFile
		switch {
		case filepath.Base(f) == "kustomization.yaml":
		case isExample && listed[f]:
			t.Errorf("%s is in a kustomization: applying it would overwrite real credentials with placeholders", f)
		case !isExample && !listed[f]:
			t.Errorf("%s is in no kustomization.yaml", f)
		}
	}
}

// TestDeploymentProbesAsDocumented: the ctsync container runs, probes and
// exposes exactly what docs/operating.md's Kubernetes example says, the
// probed paths are routes the listener serves, and every place that names
// the listener's port agrees on it.
func TestDeploymentProbesAsDocumented(t *testing.T) {
	objs := manifests(t)
	dep := find(t, objs, "Deployment", "ctsync")
	if r := dig(dep, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %v, want 2", r)
	}
	c := container(t, dep, "ctsync")

	// The documented example is the YAML block after "Kubernetes:".
	ops := read(t, "docs/operating.md")
	i := strings.Index(ops, "Kubernetes:\n\n```yaml\n")
	if i < 0 {
		t.Fatal("docs/operating.md: no Kubernetes example")
	}
	block := ops[i+len("Kubernetes:\n\n```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	docs := decodeAll(t, "docs/operating.md", []byte(block))
	want, _ := dig(docs[0], "containers", 0).(map[string]any)
	if want == nil {
		t.Fatal("docs/operating.md: the example has no container")
	}
	for _, k := range []string{"args", "ports", "livenessProbe", "readinessProbe", "startupProbe"} {
		if !reflect.DeepEqual(c[k], want[k]) {
			t.Errorf("container %s differs from docs/operating.md:\nmanifest:\n%s\ndocs:\n%s", k, yamlString(c[k]), yamlString(want[k]))
		}
	}

	// The probed paths are routes cmd/ctsync registers.
	routes := stringLiterals(t, "cmd/ctsync")
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		path, _ := dig(c, probe, "httpGet", "path").(string)
		if !routes["GET "+path] {
			t.Errorf("%s probes %q, which cmd/ctsync does not serve", probe, path)
		}
		if port := dig(c, probe, "httpGet", "port"); port != "http" {
			t.Errorf("%s probes port %v, want the named port http", probe, port)
		}
	}

	// One port everywhere: the container's, the ConfigMap's listen, the
	// Service, the NetworkPolicy, the Dockerfile's EXPOSE, config.toml.
	if p := dig(c, "ports", 0, "containerPort"); p != listenPort || dig(c, "ports", 0, "name") != "http" {
		t.Errorf("container port %v (%v), want http %d", p, dig(c, "ports", 0, "name"), listenPort)
	}
	svc := find(t, objs, "Service", "ctsync")
	if dig(svc, "spec", "ports", 0, "port") != listenPort || dig(svc, "spec", "ports", 0, "targetPort") != "http" {
		t.Errorf("Service ctsync ports = %v, want %d -> http", dig(svc, "spec", "ports"), listenPort)
	}
	np := find(t, objs, "NetworkPolicy", "ctsync")
	if p := dig(np, "spec", "ingress", 0, "ports", 0, "port"); p != listenPort {
		t.Errorf("NetworkPolicy ctsync admits port %v, want %d", p, listenPort)
	}
	if !regexp.MustCompile(`(?m)^EXPOSE ` + strconv.Itoa(listenPort) + `$`).MatchString(read(t, "Dockerfile")) {
		t.Errorf("Dockerfile does not EXPOSE %d", listenPort)
	}
	if !regexp.MustCompile(`(?m)^listen = "[^"]*:` + strconv.Itoa(listenPort) + `"`).MatchString(read(t, "config.toml")) {
		t.Errorf("config.toml's listen is not on port %d", listenPort)
	}
}

// stringLiterals collects the string constants of a package's non-test
// files (the listener's routes are written as "GET /livez"), and its
// qualified names as "pkg.Name" (syscall.SIGHUP).
func stringLiterals(t *testing.T, dir string) map[string]bool {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	lits := map[string]bool{}
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING {
					lits[s] = true
				}
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					lits[id.Name+"."+n.Sel.Name] = true
				}
			}
			return true
		})
	}
	return lits
}

// TestContainersHardened: every Deployment's pods run as non-root under the
// runtime's seccomp profile, without the API token, and every container has
// a read-only root, no capabilities, no privilege escalation and resources.
func TestContainersHardened(t *testing.T) {
	for _, o := range manifests(t) {
		if o.kind() != "Deployment" {
			continue
		}
		pod := dig(o.doc, "spec", "template", "spec")
		where := o.file + ": Deployment " + o.name()
		if dig(pod, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot is not true", where)
		}
		if uid, ok := dig(pod, "securityContext", "runAsUser").(int); !ok || uid == 0 {
			t.Errorf("%s: runAsUser = %v, want a numeric non-root user", where, dig(pod, "securityContext", "runAsUser"))
		}
		if dig(pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile is not RuntimeDefault", where)
		}
		if dig(pod, "automountServiceAccountToken") != false {
			t.Errorf("%s: mounts a service account token it never uses", where)
		}
		cs, _ := dig(pod, "containers").([]any)
		for _, c := range cs {
			w := where + " container " + dig(c, "name").(string)
			sc := dig(c, "securityContext")
			if dig(sc, "readOnlyRootFilesystem") != true {
				t.Errorf("%s: root filesystem is writable", w)
			}
			if dig(sc, "allowPrivilegeEscalation") != false {
				t.Errorf("%s: allowPrivilegeEscalation is not false", w)
			}
			if drop := dig(sc, "capabilities", "drop"); !reflect.DeepEqual(drop, []any{"ALL"}) {
				t.Errorf("%s: capabilities.drop = %v, want [ALL]", w, drop)
			}
			if add := dig(sc, "capabilities", "add"); add != nil {
				t.Errorf("%s: adds capabilities %v", w, add)
			}
			for _, r := range [][]any{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "memory"}} {
				if dig(c, append([]any{"resources"}, r...)...) == nil {
					t.Errorf("%s: no resources.%s.%s", w, r[0], r[1])
				}
			}
		}
	}
	dep := find(t, manifests(t), "Deployment", "ctsync")
	if uid := dig(dep, "spec", "template", "spec", "securityContext", "runAsUser"); uid != nonrootUID {
		t.Errorf("ctsync runs as %v, want %d like the image's USER", uid, nonrootUID)
	}
}

// TestConfigMapConfig: the ConfigMap's config.toml passes ctsync's own
// validation; it listens on the pod's address, uses the Redis Service, and
// names only secret files the Secret provides where the Deployment mounts
// them.
func TestConfigMapConfig(t *testing.T) {
	objs := manifests(t)
	src, _ := dig(find(t, objs, "ConfigMap", "ctsync-config"), "data", "config.toml").(string)
	if src == "" {
		t.Fatal("ConfigMap ctsync-config has no config.toml")
	}
	secret := find(t, objs, "Secret", "ctsync-credentials")
	keys, _ := dig(secret, "stringData").(map[string]any)

	// The secret paths are moved into a temporary directory holding the
	// example's files, so that the check holds if validation ever looks
	// at the files.
	dir := t.TempDir()
	for k, v := range keys {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v.(string)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(src, secretsDir, dir+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the ConfigMap's config.toml is not valid:\n%v", err)
	}
	if want := "0.0.0.0:" + strconv.Itoa(listenPort); cfg.Worker.Listen != want {
		t.Errorf("listen = %q, want %q: the kubelet probes the pod's IP", cfg.Worker.Listen, want)
	}
	files := []string{cfg.Worker.ListenTokenFile}
	for _, tn := range cfg.Tenants {
		files = append(files, tn.ClientSecretFile, tn.CertificateFile)
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if filepath.Dir(f) != dir {
			t.Errorf("%s is not in the Secret's mount %s", strings.ReplaceAll(f, dir+"/", secretsDir), secretsDir)
		} else if _, ok := keys[filepath.Base(f)]; !ok {
			t.Errorf("the config names %s%s, which the Secret has no key for", secretsDir, filepath.Base(f))
		}
	}
	if cfg.Worker.ListenTokenFile == "" {
		t.Error("no listen_token_file: POST /sync and the admin API would be refused")
	}
	redis := find(t, objs, "Service", "ctsync-redis")
	if want := "redis://ctsync-redis:" + strconv.Itoa(dig(redis, "spec", "ports", 0, "port").(int)) + "/"; !strings.HasPrefix(cfg.Store.URL, want) {
		t.Errorf("store url %q, want the Redis Service %s...", cfg.Store.URL, want)
	}

	// The mounts: config.toml where the container's args read it, the
	// Secret where the config names its files.
	dep := find(t, objs, "Deployment", "ctsync")
	c := container(t, dep, "ctsync")
	args, _ := json.Marshal(c["args"])
	mounts := map[string]string{}
	ms, _ := c["volumeMounts"].([]any)
	for _, m := range ms {
		mounts[dig(m, "name").(string)] = dig(m, "mountPath").(string)
	}
	vols := map[string]any{}
	vs, _ := dig(dep, "spec", "template", "spec", "volumes").([]any)
	for _, v := range vs {
		vols[dig(v, "name").(string)] = v
	}
	if mp := mounts["config"]; !strings.Contains(string(args), `"-c","`+mp+`"`) || dig(vols["config"], "configMap", "name") != "ctsync-config" {
		t.Errorf("config.toml mounted at %q from %v; the args %s read another", mp, dig(vols["config"], "configMap", "name"), args)
	}
	if mounts["credentials"]+"/" != secretsDir || dig(vols["credentials"], "secret", "secretName") != "ctsync-credentials" {
		t.Errorf("Secret ctsync-credentials not mounted at %s", secretsDir)
	}
}

// TestPrometheusRuleMatchesAlerts: the PrometheusRule carries
// deploy/prometheus/ctsync-alerts.yml's groups unchanged.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	alerts := decodeAll(t, alertsFile, []byte(read(t, alertsFile)))
	rule := find(t, manifests(t), "PrometheusRule", "ctsync")
	want, got := alerts[0]["groups"], dig(rule, "spec", "groups")
	if want == nil || !reflect.DeepEqual(got, want) {
		t.Errorf("PrometheusRule spec.groups differ from %s; copy them over:\n%s", alertsFile, yamlString(want))
	}
	if len(alerts[0]) != 1 {
		t.Errorf("%s has more than groups; the PrometheusRule carries only them", alertsFile)
	}
}

// TestSelectors: the Service, the ServiceMonitor, the PodDisruptionBudget
// and the NetworkPolicy select the ctsync pods, and the ServiceMonitor
// scrapes the Service's named port.
func TestSelectors(t *testing.T) {
	objs := manifests(t)
	dep := find(t, objs, "Deployment", "ctsync")
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	subset := func(what string, sel any, labels map[string]any) {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range m {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%v does not match %v", what, k, v, labels)
			}
		}
	}
	svc := find(t, objs, "Service", "ctsync")
	subset("Service ctsync", dig(svc, "spec", "selector"), podLabels)
	subset("PodDisruptionBudget ctsync", dig(find(t, objs, "PodDisruptionBudget", "ctsync"), "spec", "selector", "matchLabels"), podLabels)
	subset("NetworkPolicy ctsync", dig(find(t, objs, "NetworkPolicy", "ctsync"), "spec", "podSelector", "matchLabels"), podLabels)
	subset("Deployment ctsync", dig(dep, "spec", "selector", "matchLabels"), podLabels)
	pdb := find(t, objs, "PodDisruptionBudget", "ctsync")
	if min, _ := dig(pdb, "spec", "minAvailable").(int); min < 1 || min >= dig(dep, "spec", "replicas").(int) {
		t.Errorf("PodDisruptionBudget minAvailable %v: want at least 1 and fewer than the replicas, or no node drains", dig(pdb, "spec", "minAvailable"))
	}
	sm := find(t, objs, "ServiceMonitor", "ctsync")
	svcLabels, _ := dig(svc, "metadata", "labels").(map[string]any)
	subset("ServiceMonitor ctsync", dig(sm, "spec", "selector", "matchLabels"), svcLabels)
	if p, path := dig(sm, "spec", "endpoints", 0, "port"), dig(sm, "spec", "endpoints", 0, "path"); p != dig(svc, "spec", "ports", 0, "name") || path != "/metrics" {
		t.Errorf("ServiceMonitor scrapes port %v path %v, want the Service's %v and /metrics", p, path, dig(svc, "spec", "ports", 0, "name"))
	}
	if !stringLiterals(t, "cmd/ctsync")["GET /metrics"] {
		t.Error("cmd/ctsync does not serve GET /metrics")
	}
	redisPods, _ := dig(find(t, objs, "Deployment", "ctsync-redis"), "spec", "template", "metadata", "labels").(map[string]any)
	subset("Service ctsync-redis", dig(find(t, objs, "Service", "ctsync-redis"), "spec", "selector"), redisPods)
	rnp := find(t, objs, "NetworkPolicy", "ctsync-redis")
	subset("NetworkPolicy ctsync-redis", dig(rnp, "spec", "podSelector", "matchLabels"), redisPods)
	subset("NetworkPolicy ctsync-redis's client", dig(rnp, "spec", "ingress", 0, "from", 0, "podSelector", "matchLabels"), podLabels)
}

// TestKustomizeBuilds renders both kustomizations with kubectl when it is
// on PATH. `kubectl apply --dry-run=client` is not run: it needs an API
// server for discovery even in client mode, and CI has none.
func TestKustomizeBuilds(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH")
	}
	for _, dir := range []string{"base", "monitoring"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, kubectl, "kustomize", filepath.Join(root, k8sDir, dir)).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
		}
		kinds := map[string]bool{}
		for _, d := range decodeAll(t, dir, out) {
			kinds[object{doc: d}.kind()+"/"+object{doc: d}.name()] = true
		}
		want := []string{"Deployment/ctsync", "Deployment/ctsync-redis", "ConfigMap/ctsync-config", "Service/ctsync", "PodDisruptionBudget/ctsync"}
		if dir == "monitoring" {
			want = append(want, "ServiceMonitor/ctsync", "PrometheusRule/ctsync")
		}
		for _, w := range want {
			if !kinds[w] {
				t.Errorf("kubectl kustomize %s: no %s", dir, w)
			}
		}
		if kinds["Secret/ctsync-credentials"] {
			t.Errorf("kubectl kustomize %s renders the example Secret", dir)
		}
	}
}

// TestDockerfile: no Docker daemon runs in CI, so the image cannot be
// built here; this checks what the file promises. The build image's Go
// is go.mod's, the binary is static and trimmed, and the final stage is
// distroless or scratch, runs as nonroot and starts the daemon.
func TestDockerfile(t *testing.T) {
	df := read(t, "Dockerfile")
	gomod := regexp.MustCompile(`(?m)^go (\d+\.\d+)(\.\d+)?$`).FindStringSubmatch(read(t, "go.mod"))
	if gomod == nil {
		t.Fatal("go.mod has no go line")
	}
	arg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(df)
	if arg == nil || arg[1] != gomod[1] {
		t.Errorf("Dockerfile ARG GO_VERSION = %v, want go.mod's %s", arg, gomod[1])
	}
	froms := regexp.MustCompile(`(?m)^FROM (?:--platform=\S+ )?(\S+)(?: AS (\S+))?$`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 || !strings.HasPrefix(froms[0][1], "golang:${GO_VERSION}") {
		t.Fatalf("want a golang:${GO_VERSION} build stage and a final stage, got %v", froms)
	}
	final := froms[len(froms)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %s: want distroless static or scratch", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/ctsync"} {
		if !strings.Contains(df, want) {
			t.Errorf("the build does not use %s", want)
		}
	}
	lastStage := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{
		"\nUSER " + strconv.Itoa(nonrootUID) + ":" + strconv.Itoa(nonrootUID) + "\n",
		"\nEXPOSE " + strconv.Itoa(listenPort) + "\n",
		"\nENTRYPOINT [\"/ctsync\"]\n",
	} {
		if !strings.Contains(lastStage, want) {
			t.Errorf("final stage lacks %q", strings.TrimSpace(want))
		}
	}
	cmd := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(lastStage)
	var args []string
	if cmd == nil || json.Unmarshal([]byte(cmd[1]), &args) != nil ||
		!slices.Equal(args, []string{"run", "-c", "/etc/ctsync/config.toml"}) {
		t.Errorf("CMD = %v, want [run -c /etc/ctsync/config.toml]", cmd)
	}
	if strings.Contains(lastStage, "\nRUN ") {
		t.Error("the final stage RUNs a command: it has no shell")
	}
}

// TestDockerignore: the build context leaves out only what git ignores too,
// and keeps .git, so the binary's build info has the real revision and is
// not marked modified.
func TestDockerignore(t *testing.T) {
	git := map[string]bool{}
	for _, l := range lines(read(t, ".gitignore")) {
		git[strings.Trim(l, "/")] = true
	}
	for _, l := range lines(read(t, ".dockerignore")) {
		if !git[strings.Trim(l, "/")] {
			t.Errorf(".dockerignore leaves out %s, which git does not ignore: the image's binary would say -dirty", l)
		}
		if m, _ := filepath.Match(strings.Trim(l, "/"), ".git"); m {
			t.Errorf(".dockerignore leaves out .git (%s): the binary would carry no revision", l)
		}
	}
}

// lines returns a file's lines without comments and blanks.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// unit parses a systemd unit: section.key -> values, in order.
func unit(s string) map[string][]string {
	u := map[string][]string{}
	section := ""
	for _, l := range lines(s) {
		if strings.HasPrefix(l, "[") {
			section = strings.Trim(l, "[]")
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		u[section+"."+k] = append(u[section+"."+k], v)
	}
	return u
}

// TestSystemdUnit: the unit keeps its hardening, its credentials and its
// reload-as-sync-now, and `systemd-analyze verify` accepts it when systemd
// is installed (it needs no running systemd).
func TestSystemdUnit(t *testing.T) {
	src := read(t, unitFile)
	u := unit(src)
	for k, want := range map[string]string{
		"DynamicUser":             "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"StateDirectory":          "ctsync",
		"Restart":                 "on-failure",
		"ExecStart":               "/usr/local/bin/ctsync run -c /etc/ctsync/config.toml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
	} {
		if got := u["Service."+k]; !slices.Equal(got, []string{want}) {
			t.Errorf("[Service] %s = %q, want %q", k, got, want)
		}
	}
	if !slices.Contains(u["Service.SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter = %q, want @system-service", u["Service.SystemCallFilter"])
	}
	creds := map[string]bool{}
	for _, c := range u["Service.LoadCredential"] {
		name, _, _ := strings.Cut(c, ":")
		creds[name] = true
	}
	if !creds["listen-token"] || len(creds) < 2 {
		t.Errorf("LoadCredential = %q: want the listen token and the client secrets", u["Service.LoadCredential"])
	}
	// The reload is SIGHUP, which `ctsync run` reads as "sync now".
	if !stringLiterals(t, "cmd/ctsync")["syscall.SIGHUP"] {
		t.Error("cmd/ctsync no longer handles SIGHUP: check ExecReload and the unit's comment")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH")
	}
	// verify wants ExecStart's binary to exist: point it at this test's.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ctsync.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(src, "/usr/local/bin/ctsync", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", "--man=no", path).CombinedOutput()
	// verify exits 0 on unknown keys, only warning: any output is a finding.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
