{{/*
Names and labels.
*/}}
{{- define "orgplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "orgplane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "orgplane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* A component's resource name: <fullname>-<component>, at most 63 characters. */}}
{{- define "orgplane.componentName" -}}
{{- printf "%s-%s" (include "orgplane.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component's pods; dict root, component. */}}
{{- define "orgplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orgplane.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector of every pod of the release (Deployments and migration Jobs). */}}
{{- define "orgplane.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "orgplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every resource; dict root, component (optional). */}}
{{- define "orgplane.labels" -}}
helm.sh/chart: {{ include "orgplane.chart" .root }}
app.kubernetes.io/name: {{ include "orgplane.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: orgplane
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The services, in the order they are rendered, and whom each calls (its Spec.Peers in
services/<name>/<name>svc). The chart's tests compare this with the specs.
*/}}
{{- define "orgplane.serviceNames" -}}
{{- list "org" "mapping" "integration-sync" "notification" "billing" | toJson }}
{{- end }}

{{/* The gateway's readiness probe path: /readyz excluding every service not in
gateway.readiness.requiredServices, so one of those being down does not take every gateway pod
out of its Service (the gateway answers calls to it with 503 meanwhile). */}}
{{- define "orgplane.gatewayReadinessPath" -}}
{{- $required := .Values.gateway.readiness.requiredServices }}
{{- $exclude := list }}
{{- range $n := include "orgplane.serviceNames" . | fromJsonArray }}
{{- if not (has $n $required) }}
{{- $exclude = append $exclude (printf "exclude=%s" $n) }}
{{- end }}
{{- end }}
{{- if $exclude }}/readyz?{{ join "&" $exclude }}{{ else }}/readyz{{ end }}
{{- end }}

{{- define "orgplane.peers" -}}
{{- dict "org" (list) "mapping" (list "org" "integration-sync") "integration-sync" (list "org") "notification" (list "org") "billing" (list "org") | toJson }}
{{- end }}

{{/* The services that call service .name (its peers' reverse), as JSON. */}}
{{- define "orgplane.callers" -}}
{{- $peers := include "orgplane.peers" . | fromJson }}
{{- $out := list }}
{{- range $caller := include "orgplane.serviceNames" . | fromJsonArray }}
{{- if has $.name (get $peers $caller) }}
{{- $out = append $out $caller }}
{{- end }}
{{- end }}
{{- $out | toJson }}
{{- end }}

{{/* A service's gRPC address for the gateway and its callers: gRPC's dns resolver on the
headless Service, so a client sees every ready replica. dict root, name. */}}
{{- define "orgplane.grpcTarget" -}}
{{- $svc := index .root.Values.services .name }}
{{- printf "dns:///%s-headless.%s.svc.%s:%d" (include "orgplane.componentName" (dict "root" .root "component" .name)) .root.Release.Namespace .root.Values.clusterDomain (int $svc.ports.grpc) }}
{{- end }}

{{/* An image reference; dict root, image. */}}
{{- define "orgplane.image" -}}
{{- $repo := .image.repository }}
{{- with .root.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end }}
{{- $ref := printf "%s:%s" $repo (default .root.Chart.AppVersion .image.tag) }}
{{- with .image.digest }}{{ $ref = printf "%s@%s" $ref . }}{{ end }}
{{- $ref }}
{{- end }}

{{- define "orgplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "orgplane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Credentials. A credential is {existingSecret, key, value}: a value makes the chart keep it in its
own Secret under chartKey; otherwise existingSecret/key name the user's. "orgplane.secretRef"
renders the secretKeyRef (name, key) as YAML, or nothing when the credential is not given.
dict cred, secret (the chart's Secret name), chartKey.
*/}}
{{- define "orgplane.secretRef" -}}
{{- if .cred.value }}
name: {{ .secret }}
key: {{ .chartKey }}
{{- else if .cred.existingSecret }}
name: {{ .cred.existingSecret }}
key: {{ .cred.key }}
{{- end }}
{{- end }}

{{/* The database settings of service .name: its own block over the top-level one. */}}
{{- define "orgplane.database" -}}
{{- $svc := index .root.Values.services .name }}
{{- mergeOverwrite (deepCopy .root.Values.database) (deepCopy (default dict $svc.database)) | toJson }}
{{- end }}

{{/* The web UI's public address, or nothing for the binaries' default. */}}
{{- define "orgplane.webBaseURL" -}}
{{- if .Values.webBaseURL }}
{{- .Values.webBaseURL }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (first .Values.ingress.hosts).host }}
{{- end }}
{{- end }}

{{/* Where mounted files live in every container. */}}
{{- define "orgplane.paths" -}}
{"nats": "/etc/orgplane/nats", "natsCA": "/etc/orgplane/nats-ca", "natsClient": "/etc/orgplane/nats-client", "tls": "/etc/orgplane/tls"}
{{- end }}

{{/*
The non-secret settings of a component (its ConfigMap's data), as YAML; dict root, name
("gateway" or a service). Kept in one place so the Deployment's checksum follows it.
*/}}
{{- define "orgplane.configData" -}}
{{- $root := .root }}
{{- $paths := include "orgplane.paths" . | fromJson }}
ORGPLANE_LOG_LEVEL: {{ $root.Values.log.level | quote }}
ORGPLANE_LOG_FORMAT: {{ $root.Values.log.format | quote }}
{{- with $root.Values.otel.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ $root.Values.otel.protocol | quote }}
{{- with $root.Values.otel.tracesSampler }}
OTEL_TRACES_SAMPLER: {{ . | quote }}
{{- end }}
{{- with $root.Values.otel.tracesSamplerArg }}
OTEL_TRACES_SAMPLER_ARG: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $root.Values.grpcTLS.enabled }}
ORGPLANE_TLS_CA_FILE: {{ printf "%s/ca.crt" $paths.tls | quote }}
{{- if $root.Values.grpcTLS.mutual }}
ORGPLANE_TLS_CLIENT_CERT_FILE: {{ printf "%s/tls.crt" $paths.tls | quote }}
ORGPLANE_TLS_CLIENT_KEY_FILE: {{ printf "%s/tls.key" $paths.tls | quote }}
{{- end }}
{{- with $root.Values.grpcTLS.serverName }}
ORGPLANE_TLS_SERVER_NAME: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq .name "gateway" }}
{{- $gw := $root.Values.gateway }}
ORGPLANE_HTTP_ADDR: {{ printf ":%d" (int $gw.ports.http) | quote }}
{{- $up := list }}
{{- range $n := include "orgplane.serviceNames" $root | fromJsonArray }}
{{- $up = append $up (printf "%s=%s" $n (include "orgplane.grpcTarget" (dict "root" $root "name" $n))) }}
{{- end }}
ORGPLANE_UPSTREAMS: {{ join ";" $up | quote }}
ORGPLANE_RATE_LIMIT: {{ $gw.rateLimit | toString | quote }}
ORGPLANE_RATE_BURST: {{ $gw.rateBurst | toString | quote }}
ORGPLANE_MAX_CONNS_PER_CLIENT: {{ $gw.maxConnsPerClient | toString | quote }}
{{- with $gw.corsOrigins }}
ORGPLANE_CORS_ORIGINS: {{ join ";" . | quote }}
{{- end }}
{{- with $gw.trustedProxies }}
ORGPLANE_TRUSTED_PROXIES: {{ join ";" . | quote }}
{{- end }}
{{- else }}
{{- $svc := index $root.Values.services .name }}
{{- $db := include "orgplane.database" . | fromJson }}
ORGPLANE_GRPC_ADDR: {{ printf ":%d" (int $svc.ports.grpc) | quote }}
ORGPLANE_ADMIN_ADDR: {{ printf ":%d" (int $svc.ports.admin) | quote }}
ORGPLANE_DATABASE_SET_ROLE: {{ $db.setRole | toString | quote }}
ORGPLANE_MIGRATE_ON_START: "false"
ORGPLANE_NATS_URL: {{ $root.Values.nats.url | quote }}
{{- if $root.Values.nats.streamReplicas }}
ORGPLANE_NATS_STREAM_REPLICAS: {{ $root.Values.nats.streamReplicas | toString | quote }}
{{- end }}
{{- if eq $root.Values.nats.auth "creds" }}
ORGPLANE_NATS_CREDS: {{ printf "%s/%s.creds" $paths.nats .name | quote }}
{{- else if eq $root.Values.nats.auth "nkey" }}
ORGPLANE_NATS_NKEY_SEED_FILE: {{ printf "%s/%s.nk" $paths.nats .name | quote }}
{{- else }}
ORGPLANE_NATS_USER: {{ required (printf "services.%s.nats.user is required when nats.auth is userPassword" .name) $svc.nats.user | quote }}
{{- end }}
{{- if $root.Values.nats.tls.caSecret.name }}
ORGPLANE_NATS_CA_FILE: {{ printf "%s/ca.crt" $paths.natsCA | quote }}
{{- end }}
{{- if $root.Values.nats.tls.clientCertSecret }}
ORGPLANE_NATS_CERT_FILE: {{ printf "%s/tls.crt" $paths.natsClient | quote }}
ORGPLANE_NATS_KEY_FILE: {{ printf "%s/tls.key" $paths.natsClient | quote }}
{{- end }}
{{- $peers := list }}
{{- range $p := get (include "orgplane.peers" $root | fromJson) .name }}
{{- $peers = append $peers (printf "%s=%s" $p (include "orgplane.grpcTarget" (dict "root" $root "name" $p))) }}
{{- end }}
{{- with $peers }}
ORGPLANE_PEERS: {{ join ";" . | quote }}
{{- end }}
{{- if $root.Values.grpcTLS.enabled }}
ORGPLANE_TLS_CERT_FILE: {{ printf "%s/tls.crt" $paths.tls | quote }}
ORGPLANE_TLS_KEY_FILE: {{ printf "%s/tls.key" $paths.tls | quote }}
{{- if $root.Values.grpcTLS.mutual }}
ORGPLANE_TLS_CLIENT_CA_FILE: {{ printf "%s/ca.crt" $paths.tls | quote }}
{{- end }}
{{- end }}
{{- $web := include "orgplane.webBaseURL" $root }}
{{- if eq .name "org" }}
{{- with $svc.settings }}
ORGPLANE_SESSION_IDLE_TIMEOUT: {{ .sessionIdleTimeout | quote }}
ORGPLANE_SESSION_MAX_AGE: {{ .sessionMaxAge | quote }}
ORGPLANE_INVITATION_TTL: {{ .invitationTTL | quote }}
ORGPLANE_PASSWORD_RESET_TTL: {{ .passwordResetTTL | quote }}
ORGPLANE_LICENSE_METRICS_ACCOUNTS: {{ .licenseMetricsAccounts | toString | quote }}
{{- end }}
{{- with $web }}
ORGPLANE_WEB_BASE_URL: {{ . | quote }}
{{- end }}
{{- else if eq .name "integration-sync" }}
{{- with $svc.settings }}
ORGPLANE_REFRESH_FULL_INTERVAL: {{ .refreshFullInterval | quote }}
ORGPLANE_REFRESH_INCREMENTAL_INTERVAL: {{ .refreshIncrementalInterval | quote }}
ORGPLANE_REFRESH_LEASE: {{ .refreshLease | quote }}
ORGPLANE_REFRESH_WORKERS: {{ .refreshWorkers | toString | quote }}
ORGPLANE_STOP_AFTER_AUTH_FAILURES: {{ .stopAfterAuthFailures | toString | quote }}
{{- end }}
{{- else if eq .name "notification" }}
{{- with $svc.settings }}
ORGPLANE_EMAIL_MAX_ATTEMPTS: {{ .emailMaxAttempts | toString | quote }}
ORGPLANE_TROUBLE_DIGEST_DELAY: {{ .troubleDigestDelay | quote }}
ORGPLANE_TROUBLE_DIGEST_INTERVAL: {{ .troubleDigestInterval | quote }}
{{- end }}
{{- with $web }}
ORGPLANE_WEB_BASE_URL: {{ . | quote }}
{{- end }}
{{- if $svc.email.enabled }}
ORGPLANE_EMAIL_DISABLED: "false"
ORGPLANE_SMTP_ADDR: {{ required "services.notification.email.smtpAddr is required when email is enabled" $svc.email.smtpAddr | quote }}
ORGPLANE_SMTP_TLS: {{ $svc.email.smtpTLS | quote }}
{{- with $svc.email.smtpUsername }}
ORGPLANE_SMTP_USERNAME: {{ . | quote }}
{{- end }}
{{- with $svc.email.from }}
ORGPLANE_SMTP_FROM: {{ . | quote }}
{{- end }}
{{- else }}
ORGPLANE_EMAIL_DISABLED: "true"
{{- end }}
{{- else if eq .name "billing" }}
{{- with $svc.settings }}
ORGPLANE_TRIAL_LIMIT: {{ .trialLimit | toString | quote }}
ORGPLANE_TRIAL_DAYS: {{ .trialDays | toString | quote }}
ORGPLANE_ORG_CALL_TIMEOUT: {{ .orgCallTimeout | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The credentials of a component that the chart keeps (values given in values.yaml), as YAML
key: value (plain text; the Secret template encodes them). dict root, name.
*/}}
{{- define "orgplane.secretData" -}}
{{- $root := .root }}
{{- with $root.Values.otel.headers.value }}
otlp-headers: {{ . | quote }}
{{- end }}
{{- if eq .name "gateway" }}
{{- with $root.Values.gateway.operatorToken.value }}
operator-token: {{ . | quote }}
{{- end }}
{{- else }}
{{- $svc := index $root.Values.services .name }}
{{- $db := include "orgplane.database" . | fromJson }}
{{- with $db.url.value }}
database-url: {{ . | quote }}
{{- end }}
{{- with $svc.nats.value }}
nats-credential: {{ . | quote }}
{{- end }}
{{- if $svc.credentialKeys }}
{{- with $svc.credentialKeys.value }}
credential-keys: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $svc.email }}
{{- with $svc.email.smtpPassword.value }}
smtp-password: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The secret environment of a component's container (EnvVar list, secretKeyRef only); dict root,
name. Required credentials fail the render with the value to set.
*/}}
{{- define "orgplane.secretEnv" -}}
{{- $root := .root }}
{{- $secret := include "orgplane.componentName" (dict "root" $root "component" .name) }}
{{- $identity := printf "%s-identity" (include "orgplane.fullname" $root) }}
{{- $ref := include "orgplane.secretRef" (dict "cred" $root.Values.identityKeys "secret" $identity "chartKey" "identity-keys") }}
- name: ORGPLANE_IDENTITY_KEYS
  valueFrom:
    secretKeyRef:
      {{- required "identityKeys: set existingSecret (and key) or value" $ref | trim | nindent 6 }}
{{- with include "orgplane.secretRef" (dict "cred" $root.Values.otel.headers "secret" $secret "chartKey" "otlp-headers") }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      {{- . | trim | nindent 6 }}
{{- end }}
{{- if eq .name "gateway" }}
{{- $ref := include "orgplane.secretRef" (dict "cred" $root.Values.gateway.operatorToken "secret" $secret "chartKey" "operator-token") }}
- name: ORGPLANE_OPERATOR_TOKEN
  valueFrom:
    secretKeyRef:
      {{- required "gateway.operatorToken: set existingSecret (and key) or value" $ref | trim | nindent 6 }}
{{- else }}
{{- $svc := index $root.Values.services .name }}
{{- $db := include "orgplane.database" . | fromJson }}
{{- $ref := include "orgplane.secretRef" (dict "cred" $db.url "secret" $secret "chartKey" "database-url") }}
- name: ORGPLANE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- required (printf "database.url (or services.%s.database.url): set existingSecret (and key) or value" .name) $ref | trim | nindent 6 }}
{{- if eq $root.Values.nats.auth "userPassword" }}
{{- $ref := include "orgplane.secretRef" (dict "cred" $svc.nats "secret" $secret "chartKey" "nats-credential") }}
- name: ORGPLANE_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- required (printf "services.%s.nats: set existingSecret (and key) or value (the password)" .name) $ref | trim | nindent 6 }}
{{- end }}
{{- if $svc.credentialKeys }}
{{- $ref := include "orgplane.secretRef" (dict "cred" $svc.credentialKeys "secret" $secret "chartKey" "credential-keys") }}
{{- if and (not $ref) (eq .name "integration-sync") }}
{{- fail "services.integration-sync.credentialKeys: set existingSecret (and key) or value; the service cannot store vendor credentials without it" }}
{{- end }}
{{- with $ref }}
- name: ORGPLANE_CREDENTIAL_KEYS
  valueFrom:
    secretKeyRef:
      {{- . | trim | nindent 6 }}
{{- end }}
{{- end }}
{{- if and $svc.email $svc.email.enabled }}
{{- with include "orgplane.secretRef" (dict "cred" $svc.email.smtpPassword "secret" $secret "chartKey" "smtp-password") }}
- name: ORGPLANE_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- . | trim | nindent 6 }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The pod-level settings shared by Deployments and migration Jobs: pull secrets, service account,
security context, placement. dict root, c (the component's values).
*/}}
{{- define "orgplane.podCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with (default .root.Values.nodeSelector .c.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default .root.Values.tolerations .c.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default .root.Values.affinity .c.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{/* The volumes for a component's credentials and TLS files; dict root, name. */}}
{{- define "orgplane.volumes" -}}
{{- $root := .root }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if ne .name "gateway" }}
{{- $svc := index $root.Values.services .name }}
{{- if ne $root.Values.nats.auth "userPassword" }}
{{- $file := ternary (printf "%s.creds" .name) (printf "%s.nk" .name) (eq $root.Values.nats.auth "creds") }}
{{- $ref := include "orgplane.secretRef" (dict "cred" $svc.nats "secret" (include "orgplane.componentName" (dict "root" $root "component" .name)) "chartKey" "nats-credential") | fromYaml }}
{{- if not $ref }}
{{- fail (printf "services.%s.nats: set existingSecret (and key) or value (the %s file)" .name $file) }}
{{- end }}
- name: nats-credential
  secret:
    secretName: {{ $ref.name }}
    defaultMode: 0440
    items:
      - key: {{ $ref.key }}
        path: {{ $file }}
{{- end }}
{{- with $root.Values.nats.tls.caSecret.name }}
- name: nats-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $root.Values.nats.tls.caSecret.key }}
        path: ca.crt
{{- end }}
{{- with $root.Values.nats.tls.clientCertSecret }}
- name: nats-client
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- if $root.Values.grpcTLS.enabled }}
{{- $c := ternary $root.Values.gateway (index $root.Values.services .name) (eq .name "gateway") }}
- name: grpc-tls
  secret:
    secretName: {{ default (printf "%s-tls" (include "orgplane.componentName" (dict "root" $root "component" .name))) $c.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "orgplane.volumeMounts" -}}
{{- $paths := include "orgplane.paths" . | fromJson }}
- name: tmp
  mountPath: /tmp
{{- if ne .name "gateway" }}
{{- if ne .root.Values.nats.auth "userPassword" }}
- name: nats-credential
  mountPath: {{ $paths.nats }}
  readOnly: true
{{- end }}
{{- if .root.Values.nats.tls.caSecret.name }}
- name: nats-ca
  mountPath: {{ $paths.natsCA }}
  readOnly: true
{{- end }}
{{- if .root.Values.nats.tls.clientCertSecret }}
- name: nats-client
  mountPath: {{ $paths.natsClient }}
  readOnly: true
{{- end }}
{{- end }}
{{- if .root.Values.grpcTLS.enabled }}
- name: grpc-tls
  mountPath: {{ $paths.tls }}
  readOnly: true
{{- end }}
{{- end }}

{{/* topologySpreadConstraints of a component; dict root, c, component. */}}
{{- define "orgplane.topologySpread" -}}
{{- if .c.topologySpreadConstraints }}
{{- toYaml .c.topologySpreadConstraints }}
{{- else if .root.Values.topologySpread.enabled }}
{{- $t := .root.Values.topologySpread }}
{{- range $key, $when := dict "topology.kubernetes.io/zone" $t.zoneWhenUnsatisfiable "kubernetes.io/hostname" $t.hostnameWhenUnsatisfiable }}
- maxSkew: {{ $t.maxSkew }}
  topologyKey: {{ $key }}
  whenUnsatisfiable: {{ $when }}
  labelSelector:
    matchLabels:
      {{- include "orgplane.selectorLabels" (dict "root" $.root "component" $.component) | trim | nindent 6 }}
  matchLabelKeys: [pod-template-hash]
{{- end }}
{{- end }}
{{- end }}
