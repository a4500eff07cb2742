{{- define "pms-sync.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pms-sync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pms-sync.labels" -}}
app.kubernetes.io/name: {{ include "pms-sync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pms-sync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pms-sync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pms-sync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pms-sync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* What the controller may do with its own resources, the Secrets it reads and the ConfigMaps it keeps. */}}
{{- define "pms-sync.rules" -}}
- apiGroups: ["pmssync.io"]
  resources: ["pmsintegrations"]
  {{- if gt (int .Values.shards) 1 }}
  # patch: a shard hands a webhook for another shard's integration over by setting its
  # reconcile.pmssync.io/requestedAt annotation (README: Past one controller).
  verbs: ["get", "list", "watch", "patch"]
  {{- else }}
  verbs: ["get", "list", "watch"]
  {{- end }}
- apiGroups: ["pmssync.io"]
  resources: ["pmsintegrations/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
