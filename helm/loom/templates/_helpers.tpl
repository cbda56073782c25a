{{- define "loom.namespace" -}}
{{- .Values.namespace | default "kube-system" -}}
{{- end -}}

{{- define "loom.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "loom.labels" -}}
app.kubernetes.io/name: loom
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "loom.selectorLabels" -}}
app.kubernetes.io/name: loom
app.kubernetes.io/component: agent
{{- end -}}

{{/* The agent config file: chart config + extraConfig; podCIDR is dropped when empty. */}}
{{- define "loom.agentConfig" -}}
{{- $config := merge (deepCopy .Values.extraConfig) (deepCopy .Values.config) -}}
{{- if not $config.podCIDR }}{{- $_ := unset $config "podCIDR" -}}{{- end -}}
{{- toYaml $config -}}
{{- end -}}
