package helm_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "orgplane"
	releaseName = "orgplane"
	namespace   = "orgplane"
)

// object is one rendered manifest, decoded into its API type.
type object struct {
	source string // the template it came from
	kind   string // apiVersion/kind
	meta   metav1.ObjectMeta
	obj    any
}

func (o object) String() string { return o.kind + " " + o.meta.Name + " (" + o.source + ")" }

func (o object) hook() bool { return o.meta.Annotations["helm.sh/hook"] != "" }

// release is a rendered chart: its decoded objects and the values they were rendered from.
type release struct {
	objects []object
	values  chartutil.Values
	notes   string
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	return ch
}

// capabilities are the oldest cluster the chart supports (Chart.yaml's kubeVersion), with the
// Prometheus Operator's CRDs installed. (Helm's own default, 1.20, is only a placeholder for its
// release builds' linker flags.)
func capabilities() *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.27.0", Major: "1", Minor: "27"}
	caps.APIVersions = append(caps.APIVersions, "monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor",
		"monitoring.coreos.com/v1/PrometheusRule")
	return caps
}

// render renders the chart as `helm install` would: the overrides coalesced over values.yaml,
// validated against values.schema.json, every template run by Helm's engine; then each document
// is decoded strictly. A template or schema error is returned; a document that does not decode
// fails the test.
func render(t *testing.T, overrides map[string]any) (release, error) {
	t.Helper()
	ch := loadChart(t)
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, overrides, opts, capabilities())
	if err != nil {
		return release{}, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return release{}, err
	}
	rel := release{values: vals["Values"].(chartutil.Values)}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			rel.notes = files[name]
			continue
		}
		docs := releaseutil.SplitManifests(files[name])
		keys := slices.Collect(maps.Keys(docs))
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			doc := docs[k]
			if strings.TrimSpace(doc) == "" {
				continue
			}
			o, err := decode(name, doc)
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			rel.objects = append(rel.objects, o)
		}
	}
	return rel, nil
}

// The Prometheus Operator's kinds, as far as the chart uses them: decoded as strictly as the
// built-in ones, so a misspelt field fails here rather than being dropped by the API server.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
			HonorLabels   bool   `json:"honorLabels"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleGroups `json:"spec"`
}

// decode reads one manifest into the Go type of its kind, refusing unknown kinds and unknown or
// duplicate fields.
func decode(source, doc string) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return object{}, fmt.Errorf("not YAML: %w", err)
	}
	kind := tm.APIVersion + "/" + tm.Kind
	var into any
	switch kind {
	case "v1/ConfigMap":
		into = &corev1.ConfigMap{}
	case "v1/Secret":
		into = &corev1.Secret{}
	case "v1/Service":
		into = &corev1.Service{}
	case "v1/ServiceAccount":
		into = &corev1.ServiceAccount{}
	case "apps/v1/Deployment":
		into = &appsv1.Deployment{}
	case "batch/v1/Job":
		into = &batchv1.Job{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		into = &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1/PodDisruptionBudget":
		into = &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		into = &networkingv1.NetworkPolicy{}
	case "networking.k8s.io/v1/Ingress":
		into = &networkingv1.Ingress{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		into = &serviceMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		into = &prometheusRule{}
	default:
		return object{}, fmt.Errorf("unexpected kind %q", kind)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		return object{}, fmt.Errorf("%s does not decode strictly: %w", kind, err)
	}
	meta, ok := into.(metav1.Object)
	if !ok {
		return object{}, fmt.Errorf("%s has no metadata", kind)
	}
	return object{source: source, kind: kind, obj: into, meta: metav1.ObjectMeta{
		Name: meta.GetName(), Namespace: meta.GetNamespace(), Labels: meta.GetLabels(), Annotations: meta.GetAnnotations(),
	}}, nil
}

// valueSet is a named set of values to render with.
type valueSet struct {
	name   string
	values map[string]any
}

// exampleValues reads a values file under orgplane/examples.
func exampleValues(t *testing.T, name string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "examples", name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return v.AsMap()
}

// valueSets are the default values, every example values file of the chart, and a trial
// set: network policies, monitoring and autoscaling off, every credential given as a value,
// billing required for the gateway's readiness besides org.
func valueSets(t *testing.T) []valueSet {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "examples", "values-*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least three examples/values-*.yaml, found %v (%v)", files, err)
	}
	sets := []valueSet{{name: "defaults"}}
	for _, f := range files {
		sets = append(sets, valueSet{name: filepath.Base(f), values: exampleValues(t, filepath.Base(f))})
	}
	return append(sets, valueSet{name: "trial (no network policies, no monitoring, values as secrets)", values: trialValues()})
}

// Distinctive credentials, so a test can look for them where they must not be.
const (
	trialIdentityKeys  = "k1:c2VjcmV0LWlkZW50aXR5LWtleS1vZi10aGlydHktdHdvLWJ5dGVz"
	trialDatabaseURL   = "postgres://orgplane:db-password-xyzzy@db.example:5432/orgplane"
	trialMigrateURL    = "postgres://admin:admin-password-plugh@db.example:5432/orgplane"
	trialOperatorToken = "operator-token-0123456789abcdefghijklmnop"
	trialCredKeys      = "c1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	trialNATSCreds     = "-----BEGIN NATS USER JWT-----\neyJ0eXAi.trial.creds\n------END NATS USER JWT------\n"
	trialSMTPPassword  = "smtp-password-frobozz"
	trialOTLPHeaders   = "authorization=Bearer otlp-token-zork"
)

func trialSecrets() []string {
	return []string{trialIdentityKeys, trialDatabaseURL, trialMigrateURL, trialOperatorToken, trialCredKeys,
		trialNATSCreds, trialSMTPPassword, trialOTLPHeaders}
}

func trialValues() map[string]any {
	cred := func(v string) map[string]any { return map[string]any{"existingSecret": "", "value": v} }
	off := map[string]any{"enabled": false}
	services := map[string]any{}
	for _, n := range serviceNames {
		s := map[string]any{"autoscaling": off, "replicaCount": 1, "podDisruptionBudget": off,
			"nats": cred(trialNATSCreds + n)}
		switch n {
		case "org", "integration-sync":
			s["credentialKeys"] = cred(trialCredKeys)
		case "notification":
			s["email"] = map[string]any{"enabled": true, "smtpAddr": "mail.example:587", "smtpUsername": "orgplane",
				"smtpPassword": cred(trialSMTPPassword)}
		}
		services[n] = s
	}
	return map[string]any{
		"identityKeys": cred(trialIdentityKeys),
		"database":     map[string]any{"url": cred(trialDatabaseURL), "migrateUrl": cred(trialMigrateURL)},
		"otel":         map[string]any{"endpoint": "http://collector:4318", "protocol": "http/protobuf", "headers": cred(trialOTLPHeaders)},
		"services":     services,
		"gateway": map[string]any{"autoscaling": off, "replicaCount": 1, "podDisruptionBudget": off,
			"operatorToken": cred(trialOperatorToken),
			"readiness":     map[string]any{"requiredServices": []any{"org", "billing"}}},
		"networkPolicy": off,
		"monitoring": map[string]any{"serviceMonitor": off, "prometheusRule": off,
			"grafanaDashboard": off},
	}
}

var serviceNames = []string{"org", "mapping", "integration-sync", "notification", "billing"}

func components() []string { return append(slices.Clone(serviceNames), "gateway") }

// of returns the rendered objects of one Go type.
func of[T any](rel release) []T {
	var out []T
	for _, o := range rel.objects {
		if v, ok := o.obj.(*T); ok {
			out = append(out, *v)
		}
	}
	return out
}

func find(rel release, kind, name string) (object, bool) {
	for _, o := range rel.objects {
		if o.kind == kind && o.meta.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func componentName(c string) string { return releaseName + "-" + c }

// valueAt reads a value by its dotted path ("services.org.autoscaling.enabled").
func valueAt(t *testing.T, v chartutil.Values, path string) any {
	t.Helper()
	var cur any = map[string]any(v)
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			if cv, ok := cur.(chartutil.Values); ok {
				m = cv
			} else {
				t.Fatalf("values: %s: %q is not under a table", path, part)
			}
		}
		cur = m[part]
	}
	return cur
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
