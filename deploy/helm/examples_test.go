package helm_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// cnpgCluster is the part of CloudNativePG's Cluster (postgresql.cnpg.io/v1) the example uses,
// decoded strictly so a misspelt field fails here.
type cnpgCluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Instances             int    `json:"instances"`
		PrimaryUpdateStrategy string `json:"primaryUpdateStrategy"`
		MinSyncReplicas       int    `json:"minSyncReplicas"`
		MaxSyncReplicas       int    `json:"maxSyncReplicas"`
		Storage               struct {
			Size string `json:"size"`
		} `json:"storage"`
		Resources struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
		Affinity struct {
			EnablePodAntiAffinity bool   `json:"enablePodAntiAffinity"`
			TopologyKey           string `json:"topologyKey"`
		} `json:"affinity"`
		PostgreSQL struct {
			Parameters map[string]string `json:"parameters"`
		} `json:"postgresql"`
		Bootstrap struct {
			InitDB struct {
				Database               string   `json:"database"`
				Owner                  string   `json:"owner"`
				PostInitApplicationSQL []string `json:"postInitApplicationSQL"`
			} `json:"initdb"`
		} `json:"bootstrap"`
		Monitoring struct {
			EnablePodMonitor bool `json:"enablePodMonitor"`
		} `json:"monitoring"`
	} `json:"spec"`
}

// TestTheCloudNativePGExampleFitsTheChart: the example Cluster creates every service's runtime
// role for its app login, and the CNPG values name that Cluster's Secret and pods.
func TestTheCloudNativePGExampleFitsTheChart(t *testing.T) {
	var c cnpgCluster
	if err := yaml.UnmarshalStrict(readFile(t, filepath.Join(chartDir, "examples", "dependencies", "cnpg-cluster.yaml")), &c); err != nil {
		t.Fatalf("cnpg-cluster.yaml: %v", err)
	}
	if c.APIVersion != "postgresql.cnpg.io/v1" || c.Kind != "Cluster" || c.Spec.Instances < 3 || c.Spec.MinSyncReplicas < 1 {
		t.Errorf("cnpg-cluster.yaml: %s %s with %d instances, %d synchronous standbys at least", c.APIVersion, c.Kind, c.Spec.Instances, c.Spec.MinSyncReplicas)
	}
	owner := c.Spec.Bootstrap.InitDB.Owner
	var created, granted []string
	for _, stmt := range c.Spec.Bootstrap.InitDB.PostInitApplicationSQL {
		if role, ok := strings.CutPrefix(stmt, "CREATE ROLE "); ok {
			created = append(created, strings.Fields(role)[0])
		}
		if roles, ok := strings.CutPrefix(stmt, "GRANT "); ok && strings.HasSuffix(roles, " TO "+owner) {
			for _, r := range strings.Split(strings.TrimSuffix(roles, " TO "+owner), ",") {
				granted = append(granted, strings.TrimSpace(r))
			}
		}
	}
	for _, n := range serviceNames {
		role := "orgplane_" + strings.ReplaceAll(n, "-", "_") // platform.Spec.Role
		if !slices.Contains(created, role) || !slices.Contains(granted, role) {
			t.Errorf("cnpg-cluster.yaml: %s is not created and granted to %s (created %v, granted %v)", role, owner, created, granted)
		}
	}

	rel, err := render(t, exampleValues(t, "values-cnpg.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := valueAt(t, rel.values, "database.url.existingSecret"), c.Metadata.Name+"-app"; got != want {
		t.Errorf("values-cnpg.yaml: database.url.existingSecret %v, CNPG's app Secret is %s", got, want)
	}
	if got := valueAt(t, rel.values, "database.url.key"); got != "uri" {
		t.Errorf("values-cnpg.yaml: database.url.key %v, want uri", got)
	}
	if got := mustJSON(valueAt(t, rel.values, "networkPolicy.postgres.to")); !strings.Contains(got, `"cnpg.io/cluster":"`+c.Metadata.Name+`"`) {
		t.Errorf("values-cnpg.yaml: networkPolicy.postgres.to %s does not select the Cluster's pods", got)
	}
}

// TestTheNATSExampleIsAJetStreamClusterOfThree reads the values for the official nats chart.
func TestTheNATSExampleIsAJetStreamClusterOfThree(t *testing.T) {
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled bool `json:"enabled"`
			} `json:"jetstream"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, "examples", "dependencies", "nats-values.yaml")), &v); err != nil {
		t.Fatal(err)
	}
	if !v.Config.Cluster.Enabled || v.Config.Cluster.Replicas != 3 || !v.Config.JetStream.Enabled {
		t.Errorf("nats-values.yaml: cluster %v of %d, JetStream %v; want a JetStream cluster of 3", v.Config.Cluster.Enabled, v.Config.Cluster.Replicas, v.Config.JetStream.Enabled)
	}
	rel, err := render(t, exampleValues(t, "values-cnpg.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := toInt(valueAt(t, rel.values, "nats.streamReplicas")); got != v.Config.Cluster.Replicas {
		t.Errorf("values-cnpg.yaml: nats.streamReplicas %d on a cluster of %d", got, v.Config.Cluster.Replicas)
	}
}
