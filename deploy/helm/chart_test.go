package helm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

func TestChartMetadata(t *testing.T) {
	ch := loadChart(t)
	md := ch.Metadata
	if md.APIVersion != "v2" || md.AppVersion == "" || md.Version == "" {
		t.Errorf("Chart.yaml: apiVersion %q, version %q, appVersion %q; want v2 and both versions", md.APIVersion, md.Version, md.AppVersion)
	}
	if err := md.Validate(); err != nil {
		t.Errorf("Chart.yaml: %v", err)
	}
	if !chartutil.IsCompatibleRange(md.KubeVersion, capabilities().KubeVersion.String()) {
		t.Errorf("kubeVersion %q excludes the Kubernetes the tests render for (%s)", md.KubeVersion, capabilities().KubeVersion.String())
	}
	if ch.Schema == nil {
		t.Error("values.schema.json is missing")
	}
	for _, f := range ch.Raw {
		if strings.HasPrefix(f.Name, "examples/") {
			t.Errorf("%s is packaged with the chart; .helmignore should leave examples/ out", f.Name)
		}
	}
}

// TestEveryValueSetRendersToWhatAPlatformTeamAccepts renders the defaults, every example values
// file and a trial set, and checks each rendering.
func TestEveryValueSetRendersToWhatAPlatformTeamAccepts(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			rel, err := render(t, set.values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			checkRelease(t, rel)
		})
	}
}

func checkRelease(t *testing.T, rel release) {
	t.Run("names and labels", func(t *testing.T) { checkNames(t, rel) })
	t.Run("pods", func(t *testing.T) { checkPods(t, rel) })
	t.Run("probes", func(t *testing.T) { checkProbes(t, rel) })
	t.Run("disruption budgets and autoscalers", func(t *testing.T) { checkBudgetsAndAutoscalers(t, rel) })
	t.Run("network policies", func(t *testing.T) { checkNetworkPolicies(t, rel) })
	t.Run("services", func(t *testing.T) { checkServices(t, rel) })
	t.Run("configuration holds no credential", func(t *testing.T) { checkNoCredentialInConfig(t, rel) })
	t.Run("secret references", func(t *testing.T) { checkSecretReferences(t, rel) })
	t.Run("migration jobs are hooks", func(t *testing.T) { checkMigrationJobs(t, rel) })
	t.Run("monitoring", func(t *testing.T) { checkMonitoring(t, rel) })
}

func checkNames(t *testing.T, rel release) {
	seen := map[string]bool{}
	for _, o := range rel.objects {
		key := o.kind + "/" + o.meta.Name
		if seen[key] {
			t.Errorf("%s is rendered twice", key)
		}
		seen[key] = true
		for _, msg := range validation.IsDNS1123Subdomain(o.meta.Name) {
			t.Errorf("%s: name: %s", o, msg)
		}
		if o.kind == "v1/Service" {
			for _, msg := range validation.IsDNS1035Label(o.meta.Name) {
				t.Errorf("%s: a Service name must be a DNS-1035 label: %s", o, msg)
			}
		}
		for k, v := range o.meta.Labels {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s: label %s=%s: %s", o, k, v, msg)
			}
		}
		if o.meta.Labels["app.kubernetes.io/instance"] != releaseName || o.meta.Labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s: missing the release's standard labels: %v", o, o.meta.Labels)
		}
	}
}

// pod is a pod template with where it comes from.
type pod struct {
	owner string
	meta  metav1.ObjectMeta
	spec  corev1.PodSpec
}

func pods(rel release) []pod {
	var out []pod
	for _, d := range of[appsv1.Deployment](rel) {
		out = append(out, pod{"Deployment " + d.Name, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec})
	}
	for _, j := range of[batchv1.Job](rel) {
		out = append(out, pod{"Job " + j.Name, j.Spec.Template.ObjectMeta, j.Spec.Template.Spec})
	}
	return out
}

func checkPods(t *testing.T, rel release) {
	if len(pods(rel)) == 0 {
		t.Fatal("no pods rendered")
	}
	for _, p := range pods(rel) {
		s := p.spec
		if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false", p.owner)
		}
		psc := s.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
			t.Errorf("%s: pod securityContext must run as non-root user 65532: %s", p.owner, mustJSON(psc))
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range s.Volumes {
			volumes[v.Name] = v
		}
		if len(s.InitContainers) > 0 {
			t.Errorf("%s: unexpected init containers", p.owner)
		}
		for _, c := range s.Containers {
			where := p.owner + " container " + c.Name
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
			if !nonRoot || (sc.RunAsUser != nil && *sc.RunAsUser == 0) {
				t.Errorf("%s: must run as non-root", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem must be true", where)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities must drop ALL and add none: %s", where, mustJSON(sc.Capabilities))
			}
			seccomp := sc.SeccompProfile
			if seccomp == nil && psc != nil {
				seccomp = psc.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp profile must be RuntimeDefault", where)
			}
			req, lim := c.Resources.Requests, c.Resources.Limits
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := req[r]; !ok || q.IsZero() {
					t.Errorf("%s: no %s request", where, r)
				}
				if q, ok := lim[r]; ok && q.Cmp(req[r]) < 0 {
					rq := req[r]
					t.Errorf("%s: %s limit %s below its request %s", where, r, q.String(), rq.String())
				}
			}
			if q, ok := lim[corev1.ResourceMemory]; !ok || q.IsZero() {
				t.Errorf("%s: no memory limit", where)
			}
			if c.Image == "" || !(strings.Contains(c.Image, ":") || strings.Contains(c.Image, "@")) {
				t.Errorf("%s: image %q names no tag or digest", where, c.Image)
			}
			tmp := false
			for _, m := range c.VolumeMounts {
				v, ok := volumes[m.Name]
				if !ok {
					t.Errorf("%s: mounts %q, which is no volume of the pod", where, m.Name)
					continue
				}
				if m.MountPath == "/tmp" && v.EmptyDir != nil {
					tmp = true
				}
				if v.Secret != nil && !m.ReadOnly {
					t.Errorf("%s: Secret volume %q mounted writable", where, m.Name)
				}
			}
			if !tmp {
				t.Errorf("%s: a read-only root needs /tmp on an emptyDir", where)
			}
			names := map[string]bool{}
			for _, e := range c.Env {
				if names[e.Name] {
					t.Errorf("%s: env %s set twice", where, e.Name)
				}
				names[e.Name] = true
				for _, msg := range validation.IsEnvVarName(e.Name) {
					t.Errorf("%s: env %q: %s", where, e.Name, msg)
				}
			}
		}
	}
}

// portOf finds the container port a probe or Service names (by name or number).
func portOf(c corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

func checkProbes(t *testing.T, rel release) {
	for _, d := range of[appsv1.Deployment](rel) {
		for _, c := range d.Spec.Template.Spec.Containers {
			where := "Deployment " + d.Name + " container " + c.Name
			for _, pr := range []struct {
				name  string
				probe *corev1.Probe
				path  string
			}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"startup", c.StartupProbe, "/healthz"}} {
				if pr.probe == nil || pr.probe.HTTPGet == nil {
					t.Errorf("%s: no HTTP %s probe", where, pr.name)
					continue
				}
				if pr.name == "readiness" && d.Name == componentName("gateway") {
					checkGatewayReadiness(t, rel, pr.probe.HTTPGet.Path)
				} else if pr.probe.HTTPGet.Path != pr.path {
					t.Errorf("%s: %s probe on %s, want %s", where, pr.name, pr.probe.HTTPGet.Path, pr.path)
				}
				if _, ok := portOf(c, pr.probe.HTTPGet.Port); !ok {
					t.Errorf("%s: %s probe's port %s is not a declared container port", where, pr.name, pr.probe.HTTPGet.Port.String())
				}
			}
		}
	}
}

// checkGatewayReadiness: the gateway's readiness probe asks /readyz to exclude exactly the
// services gateway.readiness.requiredServices leaves out, so that one of those being down does
// not take every gateway pod, and so the whole API, out of its Service.
func checkGatewayReadiness(t *testing.T, rel release, path string) {
	t.Helper()
	var required []string
	for _, v := range valueAt(t, rel.values, "gateway.readiness.requiredServices").([]any) {
		required = append(required, v.(string))
	}
	var want []string
	for _, n := range serviceNames {
		if !slices.Contains(required, n) {
			want = append(want, n)
		}
	}
	u, err := url.Parse(path)
	if err != nil {
		t.Fatalf("the gateway's readiness probe path %q: %v", path, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil || u.Path != "/readyz" || len(q) > 1 || (len(q) == 1 && q["exclude"] == nil) {
		t.Errorf("the gateway's readiness probe asks %q, want /readyz with exclude parameters only", path)
	}
	if got := q["exclude"]; !slices.Equal(got, want) {
		t.Errorf("the gateway's readiness probe (%s) excludes %v; requiring %v, it must exclude %v", path, got, required, want)
	}
	if want == nil && path != "/readyz" {
		t.Errorf("the gateway's readiness probe asks %q, want plain /readyz when every service is required", path)
	}
}

// TestTheGatewaysReadinessRequiresTheChosenServices: by default only org (it authenticates every
// request) keeps gateway pods ready; a platform team may require more.
func TestTheGatewaysReadinessRequiresTheChosenServices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		required []any
		path     string
	}{
		{"defaults", nil, "/readyz?exclude=mapping&exclude=integration-sync&exclude=notification&exclude=billing"},
		{"org and billing", []any{"billing", "org"}, "/readyz?exclude=mapping&exclude=integration-sync&exclude=notification"},
		{"every service", []any{"org", "mapping", "integration-sync", "notification", "billing"}, "/readyz"},
		{"not even org", []any{"notification"}, "/readyz?exclude=org&exclude=mapping&exclude=integration-sync&exclude=billing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var values map[string]any
			if tc.required != nil {
				values = map[string]any{"gateway": map[string]any{"readiness": map[string]any{"requiredServices": tc.required}}}
			}
			rel, err := render(t, values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for _, d := range of[appsv1.Deployment](rel) {
				c := d.Spec.Template.Spec.Containers[0]
				if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
					t.Fatalf("Deployment %s: no HTTP readiness probe", d.Name)
				}
				want := "/readyz"
				if d.Name == componentName("gateway") {
					want = tc.path
				}
				if got := c.ReadinessProbe.HTTPGet.Path; got != want {
					t.Errorf("Deployment %s: readiness probe on %s, want %s", d.Name, got, want)
				}
			}
		})
	}
}

// TestTheSchemaKnowsTheServices: the services gateway.readiness.requiredServices may name are
// the suite's services.
func TestTheSchemaKnowsTheServices(t *testing.T) {
	var schema struct {
		Properties struct {
			Gateway struct {
				Properties struct {
					Readiness struct {
						Properties struct {
							RequiredServices struct {
								Items struct {
									Enum []string `json:"enum"`
								} `json:"items"`
							} `json:"requiredServices"`
						} `json:"properties"`
					} `json:"readiness"`
				} `json:"properties"`
			} `json:"gateway"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(loadChart(t).Schema, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Properties.Gateway.Properties.Readiness.Properties.RequiredServices.Items.Enum; !slices.Equal(got, serviceNames) {
		t.Errorf("gateway.readiness.requiredServices may name %v, want the services %v", got, serviceNames)
	}
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %s: %v", mustJSON(sel), err)
		return false
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// componentValues is where a component's values are.
func componentValues(component string) string {
	if component == "gateway" {
		return "gateway"
	}
	return "services." + component
}

func checkBudgetsAndAutoscalers(t *testing.T, rel release) {
	deployments := of[appsv1.Deployment](rel)
	if len(deployments) != len(components()) {
		t.Errorf("%d Deployments, want one per component (%v)", len(deployments), components())
	}
	for _, d := range deployments {
		component := d.Spec.Template.Labels["app.kubernetes.io/component"]
		path := componentValues(component)
		if !selects(t, d.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: its selector does not select its own pods", d.Name)
		}
		if valueAt(t, rel.values, path+".podDisruptionBudget.enabled") == true {
			covered := false
			for _, pdb := range of[policyv1.PodDisruptionBudget](rel) {
				if selects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
					covered = true
					if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
						t.Errorf("PodDisruptionBudget %s: neither minAvailable nor maxUnavailable", pdb.Name)
					}
				}
			}
			if !covered {
				t.Errorf("Deployment %s: no PodDisruptionBudget selects its pods", d.Name)
			}
		}
		hpa := false
		for _, h := range of[autoscalingv2.HorizontalPodAutoscaler](rel) {
			ref := h.Spec.ScaleTargetRef
			if ref.Kind == "Deployment" && ref.APIVersion == "apps/v1" && ref.Name == d.Name {
				hpa = true
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas || len(h.Spec.Metrics) == 0 {
					t.Errorf("HorizontalPodAutoscaler %s: min %v, max %d, %d metrics", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas, len(h.Spec.Metrics))
				}
			}
		}
		wantHPA := valueAt(t, rel.values, path+".autoscaling.enabled") == true
		if hpa != wantHPA {
			t.Errorf("Deployment %s: HorizontalPodAutoscaler %v, want %v", d.Name, hpa, wantHPA)
		}
		// With an autoscaler the Deployment leaves replicas alone, or every upgrade would reset them.
		if hpa != (d.Spec.Replicas == nil) {
			t.Errorf("Deployment %s: replicas %v with autoscaler %v", d.Name, d.Spec.Replicas, hpa)
		}
	}
}

func checkNetworkPolicies(t *testing.T, rel release) {
	policies := of[networkingv1.NetworkPolicy](rel)
	if valueAt(t, rel.values, "networkPolicy.enabled") != true {
		if len(policies) != 0 {
			t.Errorf("networkPolicy.enabled is false but %d NetworkPolicies are rendered", len(policies))
		}
		return
	}
	for _, p := range pods(rel) {
		denied, allowed := false, false
		for _, np := range policies {
			if !selects(t, &np.Spec.PodSelector, p.meta.Labels) {
				continue
			}
			types := np.Spec.PolicyTypes
			if len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
				slices.Contains(types, networkingv1.PolicyTypeIngress) && slices.Contains(types, networkingv1.PolicyTypeEgress) {
				denied = true
			} else {
				allowed = true
			}
			for _, r := range np.Spec.Ingress {
				if len(r.From) == 0 {
					t.Errorf("NetworkPolicy %s: an ingress rule without peers admits everyone", np.Name)
				}
			}
			for _, r := range np.Spec.Egress {
				if len(r.To) == 0 {
					t.Errorf("NetworkPolicy %s: an egress rule without peers allows everywhere", np.Name)
				}
			}
		}
		if !denied {
			t.Errorf("%s: no default-deny NetworkPolicy selects its pods", p.owner)
		}
		if !allowed {
			t.Errorf("%s: no NetworkPolicy allows its pods anything", p.owner)
		}
	}
}

func checkServices(t *testing.T, rel release) {
	deployments := of[appsv1.Deployment](rel)
	services := of[corev1.Service](rel)
	for _, s := range services {
		var target *appsv1.Deployment
		for i, d := range deployments {
			if selects(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector}, d.Spec.Template.Labels) {
				target = &deployments[i]
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no Deployment's pods", s.Name)
			continue
		}
		for _, sp := range s.Spec.Ports {
			if _, ok := portOf(target.Spec.Template.Spec.Containers[0], sp.TargetPort); !ok {
				t.Errorf("Service %s: port %s targets %s, not a port of %s", s.Name, sp.Name, sp.TargetPort.String(), target.Name)
			}
		}
	}
	// The gateway's upstreams and each service's peers are headless Services of the release.
	for _, cm := range of[corev1.ConfigMap](rel) {
		for _, key := range []string{"ORGPLANE_UPSTREAMS", "ORGPLANE_PEERS"} {
			v, ok := cm.Data[key]
			if !ok {
				continue
			}
			for _, entry := range strings.Split(v, ";") {
				name, target, _ := strings.Cut(entry, "=")
				host, port, err := splitDNSTarget(target)
				if err != nil {
					t.Errorf("ConfigMap %s %s: %q: %v", cm.Name, key, entry, err)
					continue
				}
				svcName, _, _ := strings.Cut(host, ".")
				o, ok := find(rel, "v1/Service", svcName)
				if !ok {
					t.Errorf("ConfigMap %s %s: %s points at Service %s, which is not rendered", cm.Name, key, name, svcName)
					continue
				}
				svc := o.obj.(*corev1.Service)
				if svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.Labels["app.kubernetes.io/component"] != name {
					t.Errorf("ConfigMap %s %s: %s should be %s's headless Service", cm.Name, key, svcName, name)
				}
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == port }) {
					t.Errorf("ConfigMap %s %s: Service %s has no port %s", cm.Name, key, svcName, port)
				}
				if want := "." + namespace + ".svc.cluster.local"; !strings.HasSuffix(host, want) {
					t.Errorf("ConfigMap %s %s: host %s is not in the release's namespace (%s)", cm.Name, key, host, want)
				}
			}
		}
	}
}

// splitDNSTarget reads a gRPC target dns:///host:port.
func splitDNSTarget(target string) (host, port string, err error) {
	rest, ok := strings.CutPrefix(target, "dns:///")
	if !ok {
		return "", "", fmt.Errorf("not a dns:/// target")
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	return rest[:i], rest[i+1:], nil
}

// credentialVariables are the settings that carry secrets (pkg/platform, the services' and the
// gateway's configs, OpenTelemetry's headers).
var credentialVariables = []string{
	"ORGPLANE_DATABASE_URL", "ORGPLANE_MIGRATE_DATABASE_URL", "ORGPLANE_IDENTITY_KEYS", "ORGPLANE_OPERATOR_TOKEN",
	"ORGPLANE_CREDENTIAL_KEYS", "ORGPLANE_NATS_PASSWORD", "ORGPLANE_SMTP_PASSWORD", "OTEL_EXPORTER_OTLP_HEADERS",
}

// credentialName tells a setting that holds a secret by its name: the known ones, and any
// password, token, secret, keyring or connection string (URLs can carry passwords).
func credentialName(k string) bool {
	if slices.Contains(credentialVariables, k) {
		return true
	}
	if k == "ORGPLANE_NATS_URL" || k == "ORGPLANE_WEB_BASE_URL" { // no credentials: the schema refuses userinfo
		return false
	}
	return slices.ContainsFunc([]string{"PASSWORD", "TOKEN", "SECRET", "_KEYS", "_URL"}, func(s string) bool { return strings.HasSuffix(k, s) })
}

func checkNoCredentialInConfig(t *testing.T, rel release) {
	secretKeys := map[string]bool{}
	for _, s := range of[corev1.Secret](rel) {
		for k := range s.Data {
			secretKeys[k] = true
		}
		for k := range s.StringData {
			secretKeys[k] = true
		}
	}
	// Keys the values name in existing Secrets count too.
	for _, p := range pods(rel) {
		for _, c := range p.spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					secretKeys[e.ValueFrom.SecretKeyRef.Key] = true
				}
				if slices.Contains(credentialVariables, e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("%s: %s must come from a Secret (secretKeyRef)", p.owner, e.Name)
				}
			}
		}
	}
	for _, cm := range of[corev1.ConfigMap](rel) {
		for k, v := range cm.Data {
			if secretKeys[k] {
				t.Errorf("ConfigMap %s has key %q, a key of a Secret", cm.Name, k)
			}
			if credentialName(k) {
				t.Errorf("ConfigMap %s has %s, a credential's name", cm.Name, k)
			}
			if strings.Contains(v, "://") && strings.Contains(strings.SplitN(v, "://", 2)[1], "@") {
				t.Errorf("ConfigMap %s: %s carries credentials in a URL", cm.Name, k)
			}
		}
	}
}

// existingSecrets are the Secrets the values name as the user's own (existingSecret without a
// value), by the path of the credential.
func existingSecrets(v any, path string, out map[string]string) {
	m, ok := v.(map[string]any)
	if cv, isValues := v.(chartutil.Values); isValues {
		m, ok = cv, true
	}
	if !ok {
		return
	}
	if name, _ := m["existingSecret"].(string); name != "" && m["value"] == "" {
		out[path] = name
	}
	for k, child := range m {
		existingSecrets(child, strings.TrimPrefix(path+"."+k, "."), out)
	}
}

func checkSecretReferences(t *testing.T, rel release) {
	// A Secret of the user's that the chart also made would fail the install (or, worse, be
	// taken over by the release).
	mine := map[string]string{}
	existingSecrets(rel.values, "", mine)
	for path, name := range mine {
		if o, ok := find(rel, "v1/Secret", name); ok {
			t.Errorf("%s names Secret %s as the user's, but the chart renders it (%s)", path, name, o.source)
		}
	}
	for _, p := range pods(rel) {
		check := func(kind, name, key string) {
			o, ok := find(rel, "v1/"+kind, name)
			if !ok {
				return // the user's own, named in the values
			}
			if key == "" {
				return
			}
			switch v := o.obj.(type) {
			case *corev1.Secret:
				if _, ok := v.Data[key]; !ok {
					t.Errorf("%s: Secret %s has no key %q", p.owner, name, key)
				}
			case *corev1.ConfigMap:
				if _, ok := v.Data[key]; !ok {
					t.Errorf("%s: ConfigMap %s has no key %q", p.owner, name, key)
				}
			}
		}
		for _, c := range p.spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					check("Secret", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					if _, ok := find(rel, "v1/ConfigMap", ef.ConfigMapRef.Name); !ok {
						t.Errorf("%s: envFrom ConfigMap %s is not rendered", p.owner, ef.ConfigMapRef.Name)
					}
				}
			}
		}
		for _, v := range p.spec.Volumes {
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					check("Secret", v.Secret.SecretName, it.Key)
				}
			}
		}
		if sa := p.spec.ServiceAccountName; sa != "" {
			if _, ok := find(rel, "v1/ServiceAccount", sa); !ok {
				t.Errorf("%s: ServiceAccount %s is not rendered", p.owner, sa)
			}
		}
	}
}

func hookWeight(t *testing.T, o object) int {
	w, err := strconv.Atoi(o.meta.Annotations["helm.sh/hook-weight"])
	if err != nil {
		t.Errorf("%s: hook-weight %q", o, o.meta.Annotations["helm.sh/hook-weight"])
	}
	return w
}

func checkMigrationJobs(t *testing.T, rel release) {
	var jobs []object
	for _, o := range rel.objects {
		if o.kind == "batch/v1/Job" {
			jobs = append(jobs, o)
		}
	}
	if len(jobs) != len(serviceNames) {
		t.Fatalf("%d Jobs, want a migration Job per service", len(jobs))
	}
	for _, o := range jobs {
		j := o.obj.(*batchv1.Job)
		hooks := strings.Split(o.meta.Annotations["helm.sh/hook"], ",")
		policy := strings.Split(o.meta.Annotations["helm.sh/hook-delete-policy"], ",")
		if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
			t.Errorf("Job %s: hooks %v, want pre-install and pre-upgrade", j.Name, hooks)
		}
		if !slices.Contains(policy, "before-hook-creation") || !slices.Contains(policy, "hook-succeeded") {
			t.Errorf("Job %s: delete policy %v", j.Name, policy)
		}
		weight := hookWeight(t, o)
		c := j.Spec.Template.Spec.Containers
		if len(c) != 1 || !slices.Equal(c[0].Args, []string{"migrate"}) {
			t.Errorf("Job %s: want one container running migrate", j.Name)
			continue
		}
		if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever && j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
			t.Errorf("Job %s: restartPolicy %s", j.Name, j.Spec.Template.Spec.RestartPolicy)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c[0].Env {
			env[e.Name] = e
		}
		if _, ok := env["ORGPLANE_DATABASE_URL"]; !ok {
			t.Errorf("Job %s: no ORGPLANE_DATABASE_URL", j.Name)
		}
		// The Job holding the DDL login holds no other secret: migrating signs no token.
		for _, e := range c[0].Env {
			if e.Name != "ORGPLANE_DATABASE_URL" && e.Name != "ORGPLANE_MIGRATE_DATABASE_URL" && credentialName(e.Name) {
				t.Errorf("Job %s is given %s, which migrating does not use", j.Name, e.Name)
			}
		}
		// A hook runs before the release's own resources exist: whatever it reads must be the
		// user's, or a hook created before it.
		deps := []string{"v1/ServiceAccount/" + j.Spec.Template.Spec.ServiceAccountName}
		for _, e := range c[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				deps = append(deps, "v1/Secret/"+e.ValueFrom.SecretKeyRef.Name)
			}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				deps = append(deps, "v1/ConfigMap/"+e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
		for _, ef := range c[0].EnvFrom {
			if ef.ConfigMapRef != nil {
				deps = append(deps, "v1/ConfigMap/"+ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil {
				deps = append(deps, "v1/Secret/"+ef.SecretRef.Name)
			}
		}
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				deps = append(deps, "v1/Secret/"+v.Secret.SecretName)
			}
		}
		for _, d := range deps {
			i := strings.LastIndex(d, "/")
			dep, ok := find(rel, d[:i], d[i+1:])
			if !ok {
				continue
			}
			if !dep.hook() {
				t.Errorf("Job %s (a hook) needs %s, which is created only after the hooks", j.Name, dep)
			} else if hookWeight(t, dep) >= weight {
				t.Errorf("Job %s (weight %d) needs %s, created no earlier", j.Name, weight, dep)
			}
		}
	}
}

func checkMonitoring(t *testing.T, rel release) {
	sms := of[serviceMonitor](rel)
	if want := valueAt(t, rel.values, "monitoring.serviceMonitor.enabled") == true; want != (len(sms) == 1) {
		t.Errorf("%d ServiceMonitors, enabled %v", len(sms), want)
	}
	for _, sm := range sms {
		scraped := map[string]bool{}
		for _, s := range of[corev1.Service](rel) {
			if !selects(t, &sm.Spec.Selector, s.Labels) {
				continue
			}
			if s.Spec.ClusterIP == corev1.ClusterIPNone {
				t.Errorf("ServiceMonitor selects headless Service %s: every series would be scraped twice", s.Name)
			}
			for _, e := range sm.Spec.Endpoints {
				if slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
					scraped[s.Labels["app.kubernetes.io/component"]] = true
				}
			}
		}
		for _, c := range components() {
			if !scraped[c] {
				t.Errorf("ServiceMonitor scrapes no port of %s", c)
			}
		}
		for _, e := range sm.Spec.Endpoints {
			if !e.HonorLabels || e.Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoint %s: honorLabels %v path %s; the alerts group by the series' own service label", e.Port, e.HonorLabels, e.Path)
			}
		}
	}
	rules := of[prometheusRule](rel)
	if want := valueAt(t, rel.values, "monitoring.prometheusRule.enabled") == true; want != (len(rules) == 1) {
		t.Errorf("%d PrometheusRules, enabled %v", len(rules), want)
	}
	if len(rules) == 1 {
		var source ruleGroups
		if err := yaml.UnmarshalStrict(readFile(t, "../observability/prometheus/orgplane-alerts.yaml"), &source); err != nil {
			t.Fatalf("deploy/observability alert rules: %v", err)
		}
		if got, want := mustJSON(rules[0].Spec), mustJSON(source); got != want {
			t.Errorf("the PrometheusRule's groups differ from deploy/observability/prometheus/orgplane-alerts.yaml")
		}
	}
	dashboards := 0
	for _, cm := range of[corev1.ConfigMap](rel) {
		doc, ok := cm.Data["orgplane.json"]
		if !ok {
			continue
		}
		dashboards++
		if cm.Labels[valueAt(t, rel.values, "monitoring.grafanaDashboard.label").(string)] == "" {
			t.Errorf("dashboard ConfigMap %s lacks the sidecar's label", cm.Name)
		}
		var got, want any
		if err := json.Unmarshal([]byte(doc), &got); err != nil {
			t.Errorf("dashboard ConfigMap %s: %v", cm.Name, err)
		}
		_ = json.Unmarshal(readFile(t, "../observability/grafana/orgplane.json"), &want)
		if mustJSON(got) != mustJSON(want) {
			t.Errorf("dashboard ConfigMap %s differs from deploy/observability/grafana/orgplane.json", cm.Name)
		}
	}
	if want := valueAt(t, rel.values, "monitoring.grafanaDashboard.enabled") == true; want != (dashboards == 1) {
		t.Errorf("%d dashboards, enabled %v", dashboards, want)
	}
}

// TestTheChartsObservabilityFilesAreDeployObservabilitys: Helm reads only files inside the chart,
// so the alert rules and the dashboard are copied into files/; they must not drift.
func TestTheChartsObservabilityFilesAreDeployObservabilitys(t *testing.T) {
	for copyPath, source := range map[string]string{
		chartDir + "/files/orgplane-alerts.yaml":    "../observability/prometheus/orgplane-alerts.yaml",
		chartDir + "/files/orgplane-dashboard.json": "../observability/grafana/orgplane.json",
	} {
		if !bytes.Equal(readFile(t, copyPath), readFile(t, source)) {
			t.Errorf("deploy/helm/%s differs from deploy/%s: copy it again (cp deploy/%s deploy/helm/%s)",
				copyPath, strings.TrimPrefix(source, "../"), strings.TrimPrefix(source, "../"), copyPath)
		}
	}
}

// TestCredentialsGivenAsValuesStayInSecrets renders the trial set, whose every credential is a
// value, and looks for each one everywhere.
func TestCredentialsGivenAsValuesStayInSecrets(t *testing.T) {
	rel, err := render(t, trialValues())
	if err != nil {
		t.Fatal(err)
	}
	inSecrets := map[string]bool{}
	for _, o := range rel.objects {
		doc, _ := json.Marshal(o.obj)
		if s, ok := o.obj.(*corev1.Secret); ok {
			for _, v := range s.Data {
				inSecrets[string(v)] = true
			}
			continue
		}
		for _, secret := range trialSecrets() {
			if bytes.Contains(doc, []byte(strings.TrimSpace(strings.Split(secret, "\n")[0]))) && len(secret) > 12 {
				t.Errorf("%s holds a credential in clear", o)
			}
		}
	}
	for _, secret := range trialSecrets() {
		found := false
		for v := range inSecrets {
			if strings.HasPrefix(v, secret) {
				found = true
			}
		}
		if !found {
			t.Errorf("credential %.12s... is in no Secret", secret)
		}
	}
	if strings.Contains(rel.notes, trialOperatorToken) {
		t.Error("NOTES.txt prints a credential")
	}
	// Each migration Job reads its URLs from its own hook Secret.
	for _, n := range serviceNames {
		o, ok := find(rel, "v1/Secret", componentName(n+"-migrate"))
		if !ok || !o.hook() {
			t.Errorf("no hook Secret for %s's migration Job", n)
			continue
		}
		data := o.obj.(*corev1.Secret).Data
		if string(data["migrate-database-url"]) != trialMigrateURL || string(data["database-url"]) != trialDatabaseURL {
			t.Errorf("%s's migration Secret: %v", n, data)
		}
	}
}

// TestTheSchemaRefusesBadValues: values.schema.json is checked when values are loaded, as
// `helm install` does, and a wrong value stops the render naming the setting.
func TestTheSchemaRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"wrong type", map[string]any{"gateway": map[string]any{"replicaCount": "two"}}, "replicaCount"},
		{"unknown key", map[string]any{"services": map[string]any{"org": map[string]any{"replicas": 3}}}, "replicas"},
		{"unknown top-level key", map[string]any{"postgresql": map[string]any{"enabled": true}}, "postgresql"},
		{"bad enum", map[string]any{"nats": map[string]any{"auth": "token"}}, "auth"},
		{"password in the NATS URL", map[string]any{"nats": map[string]any{"url": "nats://svc:secret@nats:4222"}}, "url"},
		{"bad duration", map[string]any{"services": map[string]any{"org": map[string]any{"settings": map[string]any{"sessionMaxAge": "12 hours"}}}}, "sessionMaxAge"},
		{"port out of range", map[string]any{"services": map[string]any{"billing": map[string]any{"ports": map[string]any{"grpc": 70000}}}}, "grpc"},
		{"privilege escalation", map[string]any{"securityContext": map[string]any{"allowPrivilegeEscalation": true}}, "allowPrivilegeEscalation"},
		{"no memory limit", map[string]any{"gateway": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": nil, "cpu": "1"}}}}, "memory"},
		{"wildcard CORS origin", map[string]any{"gateway": map[string]any{"corsOrigins": []any{"https://*.example.com"}}}, "corsOrigins"},
		{"bad image digest", map[string]any{"services": map[string]any{"mapping": map[string]any{"image": map[string]any{"digest": "latest"}}}}, "digest"},
		{"unknown required service", readinessRequires("org", "notifications"), "requiredServices"},
		{"no required service", readinessRequires(), "requiredServices"},
		{"a required service twice", readinessRequires("org", "org"), "requiredServices"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil {
				t.Fatalf("rendered %s", mustJSON(tc.values))
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not name the schema and %q: %v", tc.want, err)
			}
		})
	}
}

func readinessRequires(services ...any) map[string]any {
	if services == nil {
		services = []any{}
	}
	return map[string]any{"gateway": map[string]any{"readiness": map[string]any{"requiredServices": services}}}
}

// TestMissingCredentialsStopTheRender: a credential the binaries require, given neither as a
// Secret nor as a value, fails at render time rather than as a crash-looping pod.
func TestMissingCredentialsStopTheRender(t *testing.T) {
	none := map[string]any{"existingSecret": "", "value": ""}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"identity keys", map[string]any{"identityKeys": none}, "identityKeys"},
		{"operator token", map[string]any{"gateway": map[string]any{"operatorToken": none}}, "gateway.operatorToken"},
		{"database", map[string]any{"database": map[string]any{"url": none}}, "database.url"},
		{"integration credential keys", map[string]any{"services": map[string]any{"integration-sync": map[string]any{"credentialKeys": none}}}, "integration-sync.credentialKeys"},
		{"NATS credential", map[string]any{"services": map[string]any{"billing": map[string]any{"nats": none}}}, "services.billing.nats"},
		{"SMTP relay", map[string]any{"services": map[string]any{"notification": map[string]any{"email": map[string]any{"enabled": true}}}}, "smtpAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}
