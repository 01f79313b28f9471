// protogen extracts, from the pinned Kubernetes modules (see go.mod, a copy of
// testing/envtest/go.mod's requirements), the data the embedded API server needs to speak
// protobuf and to publish real OpenAPI schemas, so that it needs no Go at run time:
//
//   - lib/testing/apiserver/data/protobuf-schema.json: every message reachable from the
//     served kinds, read by reflection from the `protobuf:"…"` and `json:"…"` struct tags
//     of k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver types;
//   - lib/testing/apiserver/data/openapi-schemas.json: the OpenAPI definitions of the same
//     types, from k8s.io/kubernetes/pkg/generated/openapi (what kube-apiserver serves);
//   - test/testing/apiserver/fixtures/protobuf/*.pb and *.json: golden objects encoded by
//     the real Go types (protobuf envelope and encoding/json), to check the TypeScript codec.
//
// Run: go run . -out ../.. (from testing/protogen). test/testing/apiserver/protogen.test.ts
// regenerates into a temporary directory when Go is present and fails on drift.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kubernetes/pkg/generated/openapi"
)

// kind is one top-level object: its GroupVersionKind and a zero value of its Go type.
type kind struct {
	Group, Version, Kind string
	Obj                  any
}

// The kinds the embedded server serves (lib/testing/apiserver/resources.ts) and the
// objects its protobuf clients send or read besides them.
var kinds = []kind{
	{"", "v1", "Namespace", &corev1.Namespace{}},
	{"", "v1", "NamespaceList", &corev1.NamespaceList{}},
	{"", "v1", "Pod", &corev1.Pod{}},
	{"", "v1", "PodList", &corev1.PodList{}},
	{"", "v1", "ConfigMap", &corev1.ConfigMap{}},
	{"", "v1", "ConfigMapList", &corev1.ConfigMapList{}},
	{"", "v1", "Secret", &corev1.Secret{}},
	{"", "v1", "SecretList", &corev1.SecretList{}},
	{"", "v1", "Service", &corev1.Service{}},
	{"", "v1", "ServiceList", &corev1.ServiceList{}},
	{"", "v1", "Event", &corev1.Event{}},
	{"", "v1", "EventList", &corev1.EventList{}},
	{"apps", "v1", "Deployment", &appsv1.Deployment{}},
	{"apps", "v1", "DeploymentList", &appsv1.DeploymentList{}},
	{"autoscaling", "v1", "Scale", &autoscalingv1.Scale{}},
	{"coordination.k8s.io", "v1", "Lease", &coordinationv1.Lease{}},
	{"coordination.k8s.io", "v1", "LeaseList", &coordinationv1.LeaseList{}},
	{"events.k8s.io", "v1", "Event", &eventsv1.Event{}},
	{"events.k8s.io", "v1", "EventList", &eventsv1.EventList{}},
	{"apiextensions.k8s.io", "v1", "CustomResourceDefinition", &apiextensionsv1.CustomResourceDefinition{}},
	{"apiextensions.k8s.io", "v1", "CustomResourceDefinitionList", &apiextensionsv1.CustomResourceDefinitionList{}},
	{"authorization.k8s.io", "v1", "SelfSubjectAccessReview", &authorizationv1.SelfSubjectAccessReview{}},
	{"authorization.k8s.io", "v1", "SelfSubjectRulesReview", &authorizationv1.SelfSubjectRulesReview{}},
	{"authentication.k8s.io", "v1", "SelfSubjectReview", &authenticationv1.SelfSubjectReview{}},
	{"meta.k8s.io", "v1", "Status", &metav1.Status{}},
	{"meta.k8s.io", "v1", "DeleteOptions", &metav1.DeleteOptions{}},
	{"meta.k8s.io", "v1", "WatchEvent", &metav1.WatchEvent{}},
}

// Field is one protobuf field of a message, with the JSON facts of its Go struct field.
type Field struct {
	// Proto field name (the tag's name=) and number.
	Name   string `json:"name"`
	Number int    `json:"number"`
	// JSON name ("" when inline), omitempty, inline (its message's fields are flattened).
	JSON      string `json:"json,omitempty"`
	OmitEmpty bool   `json:"omitempty,omitempty"`
	OmitZero  bool   `json:"omitzero,omitempty"`
	Inline    bool   `json:"inline,omitempty"`
	// Pointer: absent means nil (JSON null); otherwise absent means the zero value.
	Pointer  bool `json:"pointer,omitempty"`
	Repeated bool `json:"repeated,omitempty"`
	// Type: a scalar (string, bytes, bool, int32, int64, uint32, uint64, double), or a
	// message name. Map fields carry Key (scalar) and Type is the value type.
	Type string `json:"type"`
	Key  string `json:"key,omitempty"`
}

// Message is one protobuf message (a Go struct), or a type with its own JSON form.
type Message struct {
	// Special names a type whose JSON form is not its fields': time, microtime, duration,
	// quantity, intorstring, rawextension, json, list (a named slice: {items}), and the
	// apiextensions JSONSchemaProps unions (propsorarray, propsorbool, propsorstringarray).
	Special string  `json:"special,omitempty"`
	Fields  []Field `json:"fields"`
}

type schemaFile struct {
	Kubernetes string              `json:"kubernetes"`
	Generator  string              `json:"generator"`
	Kinds      map[string]string   `json:"kinds"`
	Messages   map[string]*Message `json:"messages"`
}

var specials = map[reflect.Type]string{
	reflect.TypeOf(metav1.Time{}):                                  "time",
	reflect.TypeOf(metav1.MicroTime{}):                             "microtime",
	reflect.TypeOf(metav1.Duration{}):                              "duration",
	reflect.TypeOf(resource.Quantity{}):                            "quantity",
	reflect.TypeOf(intstr.IntOrString{}):                           "intorstring",
	reflect.TypeOf(runtime.RawExtension{}):                         "rawextension",
	reflect.TypeOf(metav1.FieldsV1{}):                              "json",
	reflect.TypeOf(apiextensionsv1.JSON{}):                         "json",
	reflect.TypeOf(apiextensionsv1.JSONSchemaPropsOrArray{}):       "propsorarray",
	reflect.TypeOf(apiextensionsv1.JSONSchemaPropsOrBool{}):        "propsorbool",
	reflect.TypeOf(apiextensionsv1.JSONSchemaPropsOrStringArray{}): "propsorstringarray",
}

// The wire layout of the special types (their Go structs are not their messages).
var specialFields = map[string][]Field{
	"time":         {{Name: "seconds", Number: 1, Type: "int64"}, {Name: "nanos", Number: 2, Type: "int32"}},
	"microtime":    {{Name: "seconds", Number: 1, Type: "int64"}, {Name: "nanos", Number: 2, Type: "int32"}},
	"duration":     {{Name: "duration", Number: 1, Type: "int64"}},
	"quantity":     {{Name: "string", Number: 1, Type: "string"}},
	"rawextension": {{Name: "raw", Number: 1, Type: "bytes"}},
	"json":         {{Name: "raw", Number: 1, Type: "bytes"}},
}

// Go package path + type name -> protobuf full name (as go-to-protobuf names them:
// k8s.io/api/core/v1.Pod -> k8s.io.api.core.v1.Pod).
func protoName(t reflect.Type) string {
	return strings.ReplaceAll(t.PkgPath(), "/", ".") + "." + t.Name()
}

type gen struct {
	messages map[string]*Message
	goNames  map[string]string // proto name -> Go name (for OpenAPI)
}

func (g *gen) message(t reflect.Type) string {
	name := protoName(t)
	if _, ok := g.messages[name]; ok {
		return name
	}
	g.goNames[name] = t.PkgPath() + "." + t.Name()
	if sp, ok := specials[t]; ok {
		m := &Message{Special: sp, Fields: specialFields[sp]}
		g.messages[name] = m
		if m.Fields == nil {
			m.Fields = []Field{}
			for _, f := range reflectFields(t) {
				m.Fields = append(m.Fields, g.field(f))
			}
		}
		return name
	}
	m := &Message{Fields: []Field{}}
	g.messages[name] = m
	for _, f := range reflectFields(t) {
		m.Fields = append(m.Fields, g.field(f))
	}
	return name
}

// The struct fields that carry a protobuf tag (TypeMeta, inline without a tag, travels
// in the runtime.Unknown envelope instead).
func reflectFields(t reflect.Type) []reflect.StructField {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("protobuf") == "" {
			continue
		}
		out = append(out, f)
	}
	return out
}

type tag struct {
	wire   string
	number int
	rep    bool
	name   string
}

func parseTag(s string) tag {
	parts := strings.Split(s, ",")
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		panic(fmt.Sprintf("bad protobuf tag %q", s))
	}
	t := tag{wire: parts[0], number: n}
	for _, p := range parts[2:] { // opt/rep/req may be missing
		if p == "rep" {
			t.rep = true
		}
		if v, ok := strings.CutPrefix(p, "name="); ok {
			t.name = v
		}
	}
	return t
}

func scalar(t reflect.Type, wire string) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int32:
		return "int32"
	case reflect.Int64, reflect.Int:
		return "int64"
	case reflect.Uint32:
		return "uint32"
	case reflect.Uint64:
		return "uint64"
	case reflect.Float64:
		// Always a double (apiextensions' tags say bytes; its generated.proto says double).
		return "double"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes"
		}
	}
	return ""
}

// typeOf names the protobuf type of a Go type (a scalar, or a message it registers).
func (g *gen) typeOf(t reflect.Type, wire string) string {
	if s := scalar(t, wire); s != "" {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		return g.message(t)
	case reflect.Slice:
		// A named slice (e.g. authorization ExtraValue) is a message {items}.
		if t.Name() != "" {
			name := protoName(t)
			if _, ok := g.messages[name]; !ok {
				g.messages[name] = &Message{Special: "list", Fields: []Field{{Name: "items", Number: 1, Repeated: true, Type: g.typeOf(t.Elem(), wire)}}}
			}
			return name
		}
	}
	panic(fmt.Sprintf("unsupported type %s", t))
}

func (g *gen) field(f reflect.StructField) Field {
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Sprintf("%s (%s %s): %v", f.Name, f.Type, f.Tag, r))
		}
	}()
	pt := parseTag(f.Tag.Get("protobuf"))
	jsonTag := strings.Split(f.Tag.Get("json"), ",")
	out := Field{Name: pt.name, Number: pt.number, JSON: jsonTag[0]}
	for _, o := range jsonTag[1:] {
		switch o {
		case "omitempty":
			out.OmitEmpty = true
		case "omitzero":
			out.OmitZero = true
		case "inline":
			out.Inline = true
		}
	}
	if out.JSON == "" && (f.Anonymous || out.Inline) {
		out.Inline = true
	} else if out.JSON == "" {
		out.JSON = f.Name
	}
	if out.JSON == "-" {
		out.JSON = ""
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		out.Pointer = true
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Map:
		// Map entries carry no tags of their own: key = 1, value = 2, typed by the Go types.
		out.Key = g.typeOf(t.Key(), "bytes")
		vt := t.Elem()
		if vt.Kind() == reflect.Pointer {
			vt = vt.Elem()
		}
		out.Type = g.typeOf(vt, "fixed64")
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		// A named slice as a field (e.g. apiextensions ValidationRules) is repeated too;
		// only as a map value (authorization ExtraValue) is it a message {items}.
		// Some tags say opt for a slice; go-to-protobuf makes every unnamed slice repeated.
		out.Repeated = true
		out.Type = g.typeOf(t.Elem(), pt.wire)
	default:
		out.Type = g.typeOf(t, pt.wire)
	}
	return out
}

// restName is the OpenAPI definition name kube-apiserver publishes for a Go type name:
// k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod.
func restName(goName string) string {
	parts := strings.Split(goName, "/")
	host := strings.Split(parts[0], ".")
	for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
		host[i], host[j] = host[j], host[i]
	}
	parts[0] = strings.Join(host, ".")
	return strings.Join(parts, ".")
}

func openAPI(roots []string) map[string]any {
	defs := openapi.GetOpenAPIDefinitions(func(path string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + restName(path))
	})
	out := map[string]any{}
	var visit func(goName string)
	visit = func(goName string) {
		name := restName(goName)
		if _, ok := out[name]; ok {
			return
		}
		d, ok := defs[goName]
		if !ok {
			panic("no OpenAPI definition for " + goName)
		}
		out[name] = d.Schema
		for _, dep := range d.Dependencies {
			visit(dep)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	// The group-version-kind extension kube-apiserver adds to each top-level kind.
	for _, k := range kinds {
		t := reflect.TypeOf(k.Obj).Elem()
		name := restName(t.PkgPath() + "." + t.Name())
		s := out[name].(spec.Schema)
		gvk := []any{map[string]any{"group": k.Group, "version": k.Version, "kind": k.Kind}}
		if k.Group == "meta.k8s.io" {
			continue
		}
		s.AddExtension("x-kubernetes-group-version-kind", gvk)
		out[name] = s
	}
	return out
}

// Golden fixtures: objects encoded by the real Go types.
func fixtures() map[string]runtime.Object {
	ts := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	replicas := int32(3)
	return map[string]runtime.Object{
		"namespace": &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: "demo", Labels: map[string]string{"team": "a"}, CreationTimestamp: ts},
		},
		"configmap": &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", Annotations: map[string]string{"k": "v"}},
			Data:       map[string]string{"a": "b", "c": ""},
			BinaryData: map[string][]byte{"bin": {0, 1, 2, 255}},
		},
		"secret": &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
			Data:       map[string][]byte{"password": []byte("hunter2")},
			Type:       corev1.SecretTypeOpaque,
		},
		"deployment": &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}, Generation: 2},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Strategy: appsv1.DeploymentStrategy{
					Type: appsv1.RollingUpdateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{
						MaxUnavailable: &intstr.IntOrString{Type: intstr.String, StrVal: "25%"},
						MaxSurge:       &intstr.IntOrString{Type: intstr.Int, IntVal: 1},
					},
				},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:  "nginx",
						Image: "nginx:1.27",
						Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
						Resources: corev1.ResourceRequirements{
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
						},
					}}},
				},
			},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: ts, LastTransitionTime: ts, Reason: "MinimumReplicasAvailable",
			}}},
		},
		"lease": &coordinationv1.Lease{
			TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			ObjectMeta: metav1.ObjectMeta{Name: "leader", Namespace: "kube-system"},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr("pod-a"),
				RenewTime:      &metav1.MicroTime{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func writeJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		panic(err)
	}
	must(os.MkdirAll(filepath.Dir(path), 0o755))
	must(os.WriteFile(path, append(b, '\n'), 0o644))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// envelope encodes obj as kube-apiserver's protobuf serializer does: "k8s\0" and a
// runtime.Unknown {typeMeta, raw}.
func envelope(obj runtime.Object) []byte {
	raw, err := obj.(interface{ Marshal() ([]byte, error) }).Marshal()
	must(err)
	gvk := obj.GetObjectKind().GroupVersionKind()
	u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, Raw: raw}
	b, err := u.Marshal()
	must(err)
	return append([]byte("k8s\x00"), b...)
}

func main() {
	out := flag.String("out", "../..", "repository root to write into")
	flag.Parse()
	g := &gen{messages: map[string]*Message{}, goNames: map[string]string{}}
	sf := schemaFile{Kubernetes: "v1.34.4", Generator: "testing/protogen", Kinds: map[string]string{}, Messages: g.messages}
	var roots []string
	for _, k := range kinds {
		t := reflect.TypeOf(k.Obj).Elem()
		gv := k.Version
		if k.Group != "" {
			gv = k.Group + "/" + k.Version
		}
		sf.Kinds[gv+"/"+k.Kind] = g.message(t)
		roots = append(roots, t.PkgPath()+"."+t.Name())
	}
	sort.Strings(roots)
	// The envelope of every protobuf body (without a group-version-kind of its own).
	sf.Kinds["runtime.Unknown"] = g.message(reflect.TypeOf(runtime.Unknown{}))
	writeJSON(filepath.Join(*out, "lib/testing/apiserver/data/protobuf-schema.json"), sf)
	writeJSON(filepath.Join(*out, "lib/testing/apiserver/data/openapi-schemas.json"), map[string]any{
		"kubernetes": "v1.34.4", "generator": "testing/protogen", "schemas": openAPI(roots),
	})
	for name, obj := range fixtures() {
		dir := filepath.Join(*out, "test/testing/apiserver/fixtures/protobuf")
		must(os.MkdirAll(dir, 0o755))
		must(os.WriteFile(filepath.Join(dir, name+".pb"), envelope(obj), 0o644))
		j, err := json.Marshal(obj)
		must(err)
		must(os.WriteFile(filepath.Join(dir, name+".json"), append(j, '\n'), 0o644))
	}
}
