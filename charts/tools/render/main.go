// Command render renders a Helm chart the way `helm template` does, without helm: Go's
// text/template with sprig's function library plus the Helm built-ins this repository's
// charts use. The tests build it (GOPATH mode, offline, from Debian's packages):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render ./charts/tools/render
//	render [-f values.yaml]... [--release NAME] [--namespace NS] [--api-versions GROUP/VERSION[/Kind]]...
//	       [--kube-version v1.30.0] [--strict] [--notes] CHART_DIR
//
// It prints the rendered manifests as one `---`-separated YAML stream (each document led by a
// `# Source:` comment, as helm does), or with --notes the rendered NOTES.txt. Values files are
// merged over the chart's values.yaml in order (maps deeply, null deletes a key) and the
// result is validated against values.schema.json when the chart has one.
//
// Supported: sprig's text functions (less env and expandenv, as in Helm); include, tpl,
// required, fail, toYaml, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, lookup
// (always empty, as in `helm template`); .Values, .Release (Name, Namespace, Service,
// IsInstall, IsUpgrade, Revision), .Chart (Chart.yaml's fields, Helm's capitalised names),
// .Files (Get, GetBytes, Lines, Glob-free), .Capabilities (APIVersions.Has, KubeVersion),
// .Template (Name, BasePath); Chart.yaml's kubeVersion is checked; .helmignore is honoured
// for .Files. Not supported: subcharts and dependencies, library charts, hooks ordering,
// .Files.Glob/AsConfig/AsSecrets, toToml, the post-renderer, and the JSON Schema keywords
// that validateSchema does not list (an unknown keyword is an error, never silently skipped).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var valuesFiles, apiVersions listFlag
	release := flag.String("release", "quiver", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities.KubeVersion")
	strict := flag.Bool("strict", false, "fail on a reference to a missing map key (missingkey=error)")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Var(&valuesFiles, "f", "a values file merged over values.yaml (repeatable)")
	flag.Var(&valuesFiles, "values", "same as -f")
	flag.Var(&apiVersions, "api-versions", "an extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [-f values.yaml]... [--release NAME] [--namespace NS] [--api-versions V]... [--strict] [--notes] CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), options{
		values: valuesFiles, release: *release, namespace: *namespace, apiVersions: apiVersions,
		kubeVersion: *kubeVersion, strict: *strict, notes: *notes,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error: "+err.Error())
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

type options struct {
	values      []string
	release     string
	namespace   string
	apiVersions []string
	kubeVersion string
	strict      bool
	notes       bool
}

// ---------------------------------------------------------------------------------------
// Built-in objects

// Files is .Files: the chart's files outside templates/ (and not ignored by .helmignore).
type Files map[string][]byte

// Get returns a file's contents, or "" when there is no such file (as Helm does).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's contents as bytes.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(string(f[name]), "\n"), "\n")
}

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has reports whether a "group/version" or "group/version/Kind" is available.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// Capabilities is .Capabilities.
type Capabilities struct {
	APIVersions VersionSet
	KubeVersion KubeVersion
	HelmVersion map[string]interface{}
}

// The built-in API versions (and kinds) a cluster of the supported versions serves; like
// `helm template`, CRDs (monitoring.coreos.com/v1, ...) are only there when --api-versions says so.
var builtinAPIVersions = map[string][]string{
	"v1":                           {"ConfigMap", "Secret", "Service", "ServiceAccount", "Pod", "PersistentVolumeClaim", "Namespace", "Endpoints", "Event"},
	"apps/v1":                      {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"},
	"autoscaling/v1":               {"HorizontalPodAutoscaler"},
	"autoscaling/v2":               {"HorizontalPodAutoscaler"},
	"batch/v1":                     {"Job", "CronJob"},
	"policy/v1":                    {"PodDisruptionBudget"},
	"networking.k8s.io/v1":         {"NetworkPolicy", "Ingress", "IngressClass"},
	"rbac.authorization.k8s.io/v1": {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"},
	"storage.k8s.io/v1":            {"StorageClass"},
	"apiextensions.k8s.io/v1":      {"CustomResourceDefinition"},
	"coordination.k8s.io/v1":       {"Lease"},
	"discovery.k8s.io/v1":          {"EndpointSlice"},
}

func capabilities(extra []string, kubeVersion string) (*Capabilities, error) {
	var set VersionSet
	for gv, kinds := range builtinAPIVersions {
		set = append(set, gv)
		for _, k := range kinds {
			set = append(set, gv+"/"+k)
		}
	}
	set = append(set, extra...)
	sort.Strings(set)
	m := regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)$`).FindStringSubmatch(kubeVersion)
	if m == nil {
		return nil, fmt.Errorf("--kube-version %q must look like v1.30.0", kubeVersion)
	}
	v := "v" + strings.TrimPrefix(kubeVersion, "v")
	return &Capabilities{
		APIVersions: set,
		KubeVersion: KubeVersion{Version: v, Major: m[1], Minor: m[2], GitVersion: v},
		HelmVersion: map[string]interface{}{"Version": "v3-compatible (charts/tools/render)"},
	}, nil
}

// ---------------------------------------------------------------------------------------
// Values

// normalize turns decoded YAML into what Helm's values look like: map[string]interface{}
// maps, []interface{} lists and float64 numbers (Helm goes through JSON, so 3 is float64 3).
func normalize(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, val := range x {
			out[k] = normalize(val)
		}
		return out
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, val := range x {
			out[fmt.Sprint(k)] = normalize(val)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, val := range x {
			out[i] = normalize(val)
		}
		return out
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	default:
		return v
	}
}

// intify turns integral float64s back into integers for output, as JSON marshalling does
// (so toYaml prints 1000000, not 1e+06).
func intify(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, val := range x {
			out[k] = intify(val)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, val := range x {
			out[i] = intify(val)
		}
		return out
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	default:
		return v
	}
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := normalize(raw).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: the top level must be a map", file)
	}
	return m, nil
}

// coalesce merges src over dst: maps deeply, other values replace, null deletes the key.
func coalesce(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				coalesce(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// ---------------------------------------------------------------------------------------
// values.schema.json: the JSON Schema subset the charts here use

type schemaValidator struct {
	root map[string]interface{}
	errs []string
}

var ignoredKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true, "description": true, "default": true, "examples": true,
	"definitions": true, "$defs": true,
}

func typeOf(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case map[string]interface{}:
		return "object"
	case []interface{}:
		return "array"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func typeMatches(want string, v interface{}) bool {
	got := typeOf(v)
	return got == want || (want == "number" && got == "integer")
}

func asFloat(v interface{}) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

func jsonText(v interface{}) string {
	b, _ := json.Marshal(intify(v))
	return string(b)
}

// why is a schema's description, to follow an error message.
func why(schema map[string]interface{}) string {
	if d, ok := schema["description"].(string); ok && d != "" {
		return " (" + d + ")"
	}
	return ""
}

func (s *schemaValidator) fail(at, format string, args ...interface{}) {
	if at == "" {
		at = "(root)"
	}
	s.errs = append(s.errs, at+": "+fmt.Sprintf(format, args...))
}

func (s *schemaValidator) resolve(ref string) (map[string]interface{}, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("unsupported $ref %q (only local #/... references)", ref)
	}
	var cur interface{} = s.root
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	m, ok := cur.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("$ref %q does not resolve", ref)
	}
	return m, nil
}

// validate checks v against schema; errors in the schema itself are returned, errors in
// the values are collected in s.errs.
func (s *schemaValidator) validate(schema map[string]interface{}, v interface{}, at string) error {
	for kw := range schema {
		switch kw {
		case "$ref", "type", "enum", "const", "properties", "additionalProperties", "required", "items", "minItems", "maxItems",
			"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "anyOf", "oneOf",
			"allOf", "not", "minProperties", "uniqueItems":
		default:
			if !ignoredKeywords[kw] {
				return fmt.Errorf("values.schema.json: unsupported keyword %q at %s", kw, at)
			}
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		target, err := s.resolve(ref)
		if err != nil {
			return err
		}
		if err := s.validate(target, v, at); err != nil {
			return err
		}
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []interface{}:
			for _, e := range x {
				types = append(types, fmt.Sprint(e))
			}
		}
		matched := false
		for _, want := range types {
			if typeMatches(want, v) {
				matched = true
			}
		}
		if !matched {
			s.fail(at, "invalid type: expected %s, given %s (%s)", strings.Join(types, " or "), typeOf(v), jsonText(v))
			return nil
		}
	}
	if enum, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			if jsonText(e) == jsonText(v) {
				found = true
			}
		}
		if !found {
			s.fail(at, "must be one of %s, given %s%s", jsonText(enum), jsonText(v), why(schema))
		}
	}
	if c, ok := schema["const"]; ok && jsonText(c) != jsonText(v) {
		s.fail(at, "must be %s, given %s%s", jsonText(c), jsonText(v), why(schema))
	}
	if n, ok := asFloat(v); ok {
		if min, ok := asFloat(schema["minimum"]); ok && n < min {
			s.fail(at, "must be >= %v, given %v", min, n)
		}
		if max, ok := asFloat(schema["maximum"]); ok && n > max {
			s.fail(at, "must be <= %v, given %v", max, n)
		}
		if min, ok := asFloat(schema["exclusiveMinimum"]); ok && n <= min {
			s.fail(at, "must be > %v, given %v", min, n)
		}
		if max, ok := asFloat(schema["exclusiveMaximum"]); ok && n >= max {
			s.fail(at, "must be < %v, given %v", max, n)
		}
	}
	if str, ok := v.(string); ok {
		if min, ok := asFloat(schema["minLength"]); ok && float64(len([]rune(str))) < min {
			s.fail(at, "must be at least %v characters long, given %q", min, str)
		}
		if max, ok := asFloat(schema["maxLength"]); ok && float64(len([]rune(str))) > max {
			s.fail(at, "must be at most %v characters long, given %q", max, str)
		}
		if p, ok := schema["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("values.schema.json: bad pattern %q at %s: %w", p, at, err)
			}
			if !re.MatchString(str) {
				s.fail(at, "must match %s, given %q", p, str)
			}
		}
	}
	if obj, ok := v.(map[string]interface{}); ok {
		props, _ := schema["properties"].(map[string]interface{})
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := at + "." + k
			if at == "" {
				child = k
			}
			if ps, ok := props[k].(map[string]interface{}); ok {
				if err := s.validate(ps, obj[k], child); err != nil {
					return err
				}
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					s.fail(at, "additional property %q is not allowed", k)
				}
			case map[string]interface{}:
				if err := s.validate(ap, obj[k], child); err != nil {
					return err
				}
			}
		}
		if req, ok := schema["required"].([]interface{}); ok {
			for _, r := range req {
				if _, ok := obj[fmt.Sprint(r)]; !ok {
					s.fail(at, "%q is required", r)
				}
			}
		}
		if min, ok := asFloat(schema["minProperties"]); ok && float64(len(obj)) < min {
			s.fail(at, "must have at least %v properties", min)
		}
	}
	if arr, ok := v.([]interface{}); ok {
		if is, ok := schema["items"].(map[string]interface{}); ok {
			for i, e := range arr {
				if err := s.validate(is, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
		if min, ok := asFloat(schema["minItems"]); ok && float64(len(arr)) < min {
			s.fail(at, "must have at least %v items", min)
		}
		if max, ok := asFloat(schema["maxItems"]); ok && float64(len(arr)) > max {
			s.fail(at, "must have at most %v items", max)
		}
		if u, ok := schema["uniqueItems"].(bool); ok && u {
			seen := map[string]bool{}
			for _, e := range arr {
				if seen[jsonText(e)] {
					s.fail(at, "items must be unique, %s repeats", jsonText(e))
				}
				seen[jsonText(e)] = true
			}
		}
	}
	// Combinators: run the branch on a scratch validator and count the branches that pass.
	passes := func(branch map[string]interface{}) (bool, []string, error) {
		sub := &schemaValidator{root: s.root}
		err := sub.validate(branch, v, at)
		return len(sub.errs) == 0, sub.errs, err
	}
	if all, ok := schema["allOf"].([]interface{}); ok {
		for _, b := range all {
			if bm, ok := b.(map[string]interface{}); ok {
				if err := s.validate(bm, v, at); err != nil {
					return err
				}
			}
		}
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		branches, ok := schema[kw].([]interface{})
		if !ok {
			continue
		}
		n := 0
		var why []string
		for _, b := range branches {
			bm, _ := b.(map[string]interface{})
			ok, errs, err := passes(bm)
			if err != nil {
				return err
			}
			if ok {
				n++
			} else {
				why = append(why, strings.Join(errs, "; "))
			}
		}
		if n == 0 {
			s.fail(at, "matches none of %s: %s", kw, strings.Join(why, " | "))
		} else if kw == "oneOf" && n > 1 {
			s.fail(at, "matches %d branches of oneOf, exactly one allowed", n)
		}
	}
	if not, ok := schema["not"].(map[string]interface{}); ok {
		ok, _, err := passes(not)
		if err != nil {
			return err
		}
		if ok {
			desc, _ := not["description"].(string)
			if desc == "" {
				desc = "matches a schema it must not match"
			}
			s.fail(at, "%s", desc)
		}
	}
	return nil
}

func validateValues(schemaFile string, values map[string]interface{}) error {
	data, err := os.ReadFile(schemaFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var schema map[string]interface{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&schema); err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	s := &schemaValidator{root: schema}
	if err := s.validate(schema, values, ""); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return fmt.Errorf("values don't meet the specifications of the schema(s) in values.schema.json:\n- %s", strings.Join(s.errs, "\n- "))
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// The chart

type chart struct {
	dir       string
	meta      map[string]interface{}
	name      string
	templates map[string]string // "<chart>/templates/x.yaml" -> text
	files     Files
}

var helmMetaNames = map[string]string{"apiVersion": "APIVersion", "kubeVersion": "KubeVersion", "appVersion": "AppVersion"}

func loadChart(dir string) (*chart, error) {
	raw, err := readYAMLMap(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	meta := map[string]interface{}{}
	for k, v := range raw {
		name := helmMetaNames[k]
		if name == "" {
			name = strings.ToUpper(k[:1]) + k[1:]
		}
		meta[name] = v
	}
	// Version-like fields are strings in Helm whatever YAML makes of them (appVersion: 1.10).
	var text struct {
		Name        string `yaml:"name"`
		Version     string `yaml:"version"`
		AppVersion  string `yaml:"appVersion"`
		KubeVersion string `yaml:"kubeVersion"`
		APIVersion  string `yaml:"apiVersion"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, &text); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	for k, v := range map[string]string{"Name": text.Name, "Version": text.Version, "AppVersion": text.AppVersion, "KubeVersion": text.KubeVersion, "APIVersion": text.APIVersion} {
		if v != "" {
			meta[k] = v
		}
	}
	name := text.Name
	if text.APIVersion != "v2" || name == "" || text.Version == "" {
		return nil, errors.New("Chart.yaml: apiVersion v2, name and version are required")
	}
	if _, err := os.Stat(filepath.Join(dir, "charts")); err == nil {
		return nil, errors.New("subcharts (charts/) are not supported by this renderer")
	}
	ignore, err := readHelmignore(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil, err
	}
	c := &chart{dir: dir, meta: meta, name: name, templates: map[string]string{}, files: Files{}}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if ignored(ignore, rel, true) {
				return filepath.SkipDir
			}
			return nil
		}
		if ignored(ignore, rel, false) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[name+"/"+rel] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" || rel == ".helmignore":
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

func readHelmignore(file string) ([]string, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			return nil, errors.New(".helmignore: negated patterns are not supported by this renderer")
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// ignored applies .helmignore patterns: a pattern ending in / matches directories only; a
// pattern without / matches the base name anywhere; others match the path from the chart root.
func ignored(patterns []string, rel string, isDir bool) bool {
	for _, p := range patterns {
		dirOnly := strings.HasSuffix(p, "/")
		p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
		if dirOnly && !isDir {
			continue
		}
		target := rel
		if !strings.Contains(p, "/") {
			target = path.Base(rel)
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------
// Functions

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(intify(v)); err != nil {
		return ""
	}
	_ = enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	if raw == nil {
		return map[string]interface{}{}
	}
	m, ok := normalize(raw).(map[string]interface{})
	if !ok {
		return map[string]interface{}{"Error": "fromYaml: the document is not a map"}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	a, ok := normalize(raw).([]interface{})
	if !ok {
		return []interface{}{"fromYamlArray: the document is not a list"}
	}
	return a
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(intify(v))
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

const maxIncludeDepth = 1000

func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	depth := 0
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth > maxIncludeDepth {
			return "", fmt.Errorf("include %q: nested too deeply (a template including itself?)", name)
		}
		depth++
		defer func() { depth-- }()
		var buf strings.Builder
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		// Like Helm, a tpl string is rendered leniently: a missing key prints nothing.
		t.Option("missingkey=zero")
		if _, err := t.New("tpl").Parse(text); err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, "tpl", data); err != nil {
			return "", fmt.Errorf("tpl: %w", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

// ---------------------------------------------------------------------------------------
// Rendering

func render(dir string, o options) (string, error) {
	c, err := loadChart(dir)
	if err != nil {
		return "", err
	}
	caps, err := capabilities(o.apiVersions, o.kubeVersion)
	if err != nil {
		return "", err
	}
	if kv, ok := c.meta["KubeVersion"].(string); ok && kv != "" {
		check := sprig.TxtFuncMap()["semverCompare"].(func(string, string) (bool, error))
		ok, err := check(kv, caps.KubeVersion.Version)
		if err != nil {
			return "", fmt.Errorf("Chart.yaml kubeVersion %q: %w", kv, err)
		}
		if !ok {
			return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", kv, caps.KubeVersion.Version)
		}
	}
	values, err := readYAMLMap(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range o.values {
		overlay, err := readYAMLMap(f)
		if err != nil {
			return "", err
		}
		coalesce(values, overlay)
	}
	if err := validateValues(filepath.Join(dir, "values.schema.json"), values); err != nil {
		return "", err
	}

	root := template.New("gotpl")
	if o.strict {
		root.Option("missingkey=error")
	} else {
		root.Option("missingkey=zero")
	}
	root.Funcs(funcMap(root))
	names := make([]string, 0, len(c.templates))
	for n := range c.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := root.New(n).Parse(c.templates[n]); err != nil {
			return "", err
		}
	}

	base := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": o.release, "Namespace": o.namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart":        c.meta,
		"Files":        c.files,
		"Capabilities": caps,
	}
	var out strings.Builder
	var notes string
	for _, n := range names {
		file := path.Base(n)
		if strings.HasPrefix(file, "_") {
			continue
		}
		data := make(map[string]interface{}, len(base)+1)
		for k, v := range base {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": c.name + "/templates"}
		var buf strings.Builder
		if err := root.ExecuteTemplate(&buf, n, data); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if file == "NOTES.txt" {
			notes = text
			continue
		}
		if !strings.HasSuffix(file, ".yaml") && !strings.HasSuffix(file, ".yml") {
			continue
		}
		for _, doc := range splitManifests(text) {
			out.WriteString("---\n# Source: " + n + "\n" + doc + "\n")
		}
	}
	if o.notes {
		return notes, nil
	}
	return out.String(), nil
}

var sep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitManifests splits a rendered file into its documents, dropping empty ones.
func splitManifests(text string) []string {
	var docs []string
	for _, d := range sep.Split(text, -1) {
		d = strings.TrimSpace(d)
		meaningful := false
		for _, line := range strings.Split(d, "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "#") {
				meaningful = true
			}
		}
		if meaningful {
			docs = append(docs, d)
		}
	}
	return docs
}
