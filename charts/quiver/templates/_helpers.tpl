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

{{/* The Secret holding the registry's PostgreSQL DSN (its name may use templates). */}}
{{- define "quiver.registrySecret" -}}
{{- required "registry.postgres.existingSecret is required when registry.backend is postgres: the name of an existing Secret whose key registry.postgres.secretKey holds the DSN (postgres://USER:PASSWORD@HOST:5432/DB)" (tpl .Values.registry.postgres.existingSecret .) }}
{{- end }}

{{/* The Secret holding the API tokens. */}}
{{- define "quiver.authSecret" -}}
{{- required "auth.existingSecret is required when auth.enabled is true: the name of an existing Secret whose key auth.secretKey holds the tokens" (tpl .Values.auth.existingSecret .) }}
{{- end }}

{{/* A values-file scalar as a string: integers without an exponent (1000000, not 1e+06). */}}
{{- define "quiver.scalar" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}
