{{/* The chart's name, overridable. */}}
{{- define "quiver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified name (release + chart) used for every object; at most 63 characters, as
DNS names must be. A release named like the chart keeps one copy of the name.
*/}}
{{- define "quiver.fullname" -}}
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

{{- define "quiver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: the pod template carries them and every selector uses exactly these. */}}
{{- define "quiver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "quiver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The `helm test` pod's own labels (not the serving pods'), which the NetworkPolicy admits. */}}
{{- define "quiver.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "quiver.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{/* Labels on every object. */}}
{{- define "quiver.labels" -}}
helm.sh/chart: {{ include "quiver.chart" . }}
{{ include "quiver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: quiver
{{- end }}

{{- define "quiver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "quiver.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: a digest wins over a tag; the tag defaults to the chart's appVersion. */}}
{{- define "quiver.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* True (non-empty) when more than one pod may run at once. */}}
{{- define "quiver.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/*
The one-pod rules of the embedded SQLite registry (registry.backend=sqlite with the registry
on): one replica, no HPA, no shared volume. Several pods would each open a registry of their
own (emptyDir), or share one SQLite WAL file over a network filesystem (ReadWriteMany), which
corrupts it. Any volume read-write by one pod at a time (ReadWriteOnce, ReadWriteOncePod)
rolls with Recreate.
*/}}
{{- define "quiver.checkReplicas" -}}
{{- $registryOn := ne (toString (get .Values.config "registry")) "false" }}
{{- if and (eq .Values.registry.backend "sqlite") $registryOn }}
{{- $fix := "use registry.backend=postgres (one PostgreSQL registry shared by every pod, see values-scaled.yaml), or config.registry=false to serve only models baked into the image" }}
{{- if .Values.autoscaling.enabled }}
{{- fail (printf "registry.backend=sqlite serves one pod, and autoscaling.enabled runs %v to %v: every pod would have a registry of its own; %s" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas $fix) }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "registry.backend=sqlite serves one pod, and replicaCount is %v: every pod would have a registry of its own; %s" .Values.replicaCount $fix) }}
{{- end }}
{{- if and .Values.persistence.enabled (or (has "ReadWriteMany" .Values.persistence.accessModes) (has "ReadOnlyMany" .Values.persistence.accessModes)) }}
{{- fail (printf "registry.backend=sqlite cannot live on a shared volume (persistence.accessModes %v): SQLite's WAL shared over a network filesystem corrupts the registry; use ReadWriteOnce or ReadWriteOncePod, or %s" (join "," .Values.persistence.accessModes) $fix) }}
{{- end }}
{{- end }}
{{- if and .Values.persistence.enabled (include "quiver.multiReplica" .) (or (has "ReadWriteOnce" .Values.persistence.accessModes) (has "ReadWriteOncePod" .Values.persistence.accessModes)) }}
{{- fail "persistence.enabled with a ReadWriteOnce or ReadWriteOncePod volume allows one replica only (replicaCount 1, autoscaling off): with several replicas use registry.backend=postgres and leave persistence off" }}
{{- end }}
{{- end }}

{{/* True (non-empty) when a volume is read-write by one pod (or node) at a time: roll with Recreate. */}}
{{- define "quiver.singleWriterVolume" -}}
{{- if and .Values.persistence.enabled (or (has "ReadWriteOnce" .Values.persistence.accessModes) (has "ReadWriteOncePod" .Values.persistence.accessModes)) }}true{{ end }}
{{- end }}

{{/* The server's drain on SIGTERM, whole seconds rounded up (config.shutdownGraceMs, 10000 by default). */}}
{{- define "quiver.drainSeconds" -}}
{{- $ms := 10000 }}
{{- if hasKey .Values.config "shutdownGraceMs" }}{{ $ms = int (get .Values.config "shutdownGraceMs") }}{{ end }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the preStop pause, then the drain, then 5 s of margin for the
process to exit. A value of one's own shorter than that fails the render.
*/}}
{{- define "quiver.terminationGrace" -}}
{{- $needed := add (include "quiver.drainSeconds" . | int) (int .Values.lifecycle.preStopSleepSeconds) 5 }}
{{- $set := int .Values.terminationGracePeriodSeconds }}
{{- if eq $set 0 }}{{ $needed }}
{{- else if lt $set $needed }}
{{- fail (printf "terminationGracePeriodSeconds %v is shorter than the drain: lifecycle.preStopSleepSeconds (%v) + config.shutdownGraceMs (%v s) + 5 s = %v; raise it, or set 0 to derive it" $set .Values.lifecycle.preStopSleepSeconds (include "quiver.drainSeconds" .) $needed) }}
{{- else }}{{ $set }}
{{- end }}
{{- end }}

{{/*
A Service port's appProtocol for the gRPC ports: h2c (HTTP/2 in clear) without TLS, https
(TLS, HTTP/2 by ALPN) with tls.enabled.
*/}}
{{- define "quiver.grpcAppProtocol" -}}
{{- ternary "https" "kubernetes.io/h2c" .Values.tls.enabled }}
{{- end }}
{{- define "quiver.httpAppProtocol" -}}
{{- ternary "https" "http" .Values.tls.enabled }}
{{- end }}

{{/* The Secret holding the registry's PostgreSQL DSN (its name may use templates). */}}
{{- define "quiver.registrySecret" -}}
{{- required "registry.postgres.existingSecret is required when registry.backend is postgres: the name of an existing Secret whose key registry.postgres.secretKey holds the DSN (postgres://USER:PASSWORD@HOST:5432/DB)" (tpl .Values.registry.postgres.existingSecret .) }}
{{- end }}

{{/* The Secret holding the API tokens (its name may use templates). */}}
{{- define "quiver.authSecret" -}}
{{- required "auth.existingSecret is required when auth.enabled is true: the name of an existing Secret whose key auth.secretKey holds the tokens file (one `name scopes token` per line)" (tpl .Values.auth.existingSecret .) }}
{{- end }}

{{/* Where the tokens Secret is mounted, and the tokens file in it (QUIVER_AUTH_TOKENS_FILE). */}}
{{- define "quiver.authDir" -}}/etc/quiver/auth{{- end }}
{{- define "quiver.authTokensFile" -}}{{ include "quiver.authDir" . }}/tokens{{- end }}

{{/* Where the TLS files are mounted: tls.crt, tls.key, ca.crt, and the probes' client pair. */}}
{{- define "quiver.tlsDir" -}}/etc/quiver/tls{{- end }}
{{- define "quiver.probeTlsDir" -}}/etc/quiver/probe-tls{{- end }}

{{/* The Secret holding the server's certificate and key (its name may use templates). */}}
{{- define "quiver.tlsSecret" -}}
{{- required "tls.existingSecret is required when tls.enabled is true: the name of an existing kubernetes.io/tls Secret (keys tls.certKey and tls.keyKey)" (tpl .Values.tls.existingSecret .) }}
{{- end }}

{{/*
True (non-empty) when the registry plane listens on 0.0.0.0 for other pods: registry.listen
cluster, or auto with API tokens (auth.enabled) or registry.insecure. The server refuses a
non-loopback registry with no tokens unless insecureRegistry, and so does the chart.
*/}}
{{- define "quiver.registryInCluster" -}}
{{- $listen := .Values.registry.listen | default "auto" }}
{{- if eq $listen "cluster" }}
{{- if not (or .Values.auth.enabled .Values.registry.insecure) }}
{{- fail "registry.listen=cluster serves the registry plane to other pods, which needs API tokens: set auth.enabled with auth.existingSecret (or registry.insecure=true, never in production), or registry.listen=pod" }}
{{- end }}true
{{- else if and (eq $listen "auto") (or .Values.auth.enabled .Values.registry.insecure) }}true
{{- end }}
{{- end }}

{{/*
The `quiver health` flags that reach this pod's server over TLS: --tls, and with mTLS the
client certificate (probeClientCert's, or the server's own).
*/}}
{{- define "quiver.healthTlsArgs" -}}
{{- if .Values.tls.enabled }}
- --tls
{{- if .Values.tls.clientAuth }}
{{- $dir := include "quiver.tlsDir" . }}
{{- if .Values.tls.probeClientCert.existingSecret }}
{{- $dir = include "quiver.probeTlsDir" . }}
{{- end }}
- --tls-client-cert
- {{ printf "%s/tls.crt" $dir }}
- --tls-client-key
- {{ printf "%s/tls.key" $dir }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The TLS volumes (server certificate, client CA, the probes' client pair), for the Deployment
and the `helm test` pod. Secret files are 0440 (288): readable by fsGroup, not by others.
*/}}
{{- define "quiver.tlsVolumes" -}}
{{- if .Values.tls.enabled }}
- name: tls
  projected:
    defaultMode: 288
    sources:
      - secret:
          name: {{ include "quiver.tlsSecret" . }}
          items:
            - key: {{ .Values.tls.certKey }}
              path: tls.crt
            - key: {{ .Values.tls.keyKey }}
              path: tls.key
      {{- if .Values.tls.clientCa.enabled }}
      - secret:
          name: {{ default (include "quiver.tlsSecret" .) (tpl .Values.tls.clientCa.existingSecret .) }}
          items:
            - key: {{ .Values.tls.clientCa.key }}
              path: ca.crt
      {{- end }}
{{- if and .Values.tls.clientAuth .Values.tls.probeClientCert.existingSecret }}
- name: probe-tls
  secret:
    secretName: {{ tpl .Values.tls.probeClientCert.existingSecret . }}
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end }}

{{- define "quiver.tlsVolumeMounts" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ include "quiver.tlsDir" . }}
  readOnly: true
{{- if and .Values.tls.clientAuth .Values.tls.probeClientCert.existingSecret }}
- name: probe-tls
  mountPath: {{ include "quiver.probeTlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/*
Server options the chart sets itself, by variable name, with the value that sets each: a
config.* key (in any spelling that maps to the same QUIVER_* variable) or an extraEnv entry
naming one fails the render.
*/}}
{{- define "quiver.reservedEnv" -}}
QUIVER_GRPC_HOST: the chart (0.0.0.0, where the probes and the Service reach gRPC)
QUIVER_HTTP_HOST: the chart (0.0.0.0, where the Service reaches REST)
QUIVER_METRICS_HOST: the chart (0.0.0.0, where Prometheus reaches the metrics port)
QUIVER_GRPC_PORT: ports.grpc
QUIVER_HTTP_PORT: ports.http
QUIVER_METRICS_PORT: ports.metrics
QUIVER_REGISTRY_PORT: ports.registry
QUIVER_REGISTRY_HTTP_PORT: ports.registryHttp
QUIVER_DATA_DIR: persistence.mountPath
QUIVER_REGISTRY_URL: registry.backend and registry.postgres.existingSecret
QUIVER_REGISTRY_HOST: registry.listen (0.0.0.0 only with auth.enabled or registry.insecure)
QUIVER_INSECURE_REGISTRY: registry.insecure
QUIVER_AUTH_TOKENS: auth.existingSecret (tokens never go in values)
QUIVER_AUTH_TOKENS_FILE: auth.existingSecret, mounted read-only
QUIVER_AUTH_INFERENCE: auth.inference
QUIVER_TLS_CERT: tls.existingSecret
QUIVER_TLS_KEY: tls.existingSecret
QUIVER_TLS_CLIENT_CA: tls.clientCa
QUIVER_TLS_CLIENT_AUTH: tls.clientAuth
{{- end }}

{{/* A values-file scalar as a string: integers without an exponent (1000000, not 1e+06). */}}
{{- define "quiver.scalar" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}
