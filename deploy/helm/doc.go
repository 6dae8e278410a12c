// Package helm holds the checks of the Orgplane Helm chart in orgplane/: its tests render the
// chart with Helm's own engine for the default values and each example value set, validate the
// values against values.schema.json as `helm install` does, and decode every manifest strictly
// into the Kubernetes API types, then assert what a platform team requires of it (non-root,
// read-only, probes on declared ports, budgets, network policies, no credential in a ConfigMap,
// migrations as hooks). This module is the only one that imports the Helm SDK.
package helm
