{{/*
The full name: the prefix of every object's name. The kustomize manifests name everything
"model-rollouts-..."; the chart puts this in place of "model-rollouts", so a release named
model-rollouts reproduces their names exactly and two releases never collide.
*/}}
{{- define "model-rollouts.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A shipped name ("model-rollouts-controller") with the release's prefix instead. */}}
{{- define "model-rollouts.rename" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- printf "%s%s" (include "model-rollouts.fullname" $root) (trimPrefix "model-rollouts" $name) -}}
{{- end -}}

{{- define "model-rollouts.serviceAccountName" -}}
{{- include "model-rollouts.rename" (list . "model-rollouts-controller") -}}
{{- end -}}

{{/* Labels on every object. part-of is the label the kustomize manifests carry. */}}
{{- define "model-rollouts.labels" -}}
app.kubernetes.io/part-of: model-rollouts
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What selects the controller pods of this release (all Deployments). */}}
{{- define "model-rollouts.selectorLabels" -}}
app.kubernetes.io/name: model-rollouts-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The objects of a file copied from deploy/ (`make chart`), as {"items": [...]}: the chart renders
its RBAC from the shipped manifests themselves, so the two cannot drift apart.
*/}}
{{- define "model-rollouts.shipped" -}}
{{- $root := index . 0 -}}
{{- $path := index . 1 -}}
{{- $text := include "model-rollouts.file" (dict "root" $root "path" $path "what" "the RBAC (`make chart` copies it)") -}}
{{- $items := list -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" $text -1 -}}
{{- $object := fromYaml $doc -}}
{{- if $object -}}
{{- $items = append $items $object -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "items" $items) -}}
{{- end -}}

{{/* One object of a shipped file, by kind and shipped name (fails if there is none). */}}
{{- define "model-rollouts.shippedObject" -}}
{{- $root := index . 0 -}}
{{- $path := index . 1 -}}
{{- $kind := index . 2 -}}
{{- $name := index . 3 -}}
{{- $found := dict -}}
{{- range $object := (include "model-rollouts.shipped" (list $root $path) | fromYaml).items -}}
{{- if and (eq $object.kind $kind) (eq $object.metadata.name $name) -}}
{{- $found = $object -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "%s has no %s %s: has it changed? (templates read it)" $path $kind $name) -}}
{{- end -}}
{{- toYaml $found -}}
{{- end -}}

{{/*
The rules of a shipped Role or ClusterRole, as YAML: list (root, path, kind, name).
*/}}
{{- define "model-rollouts.shippedRules" -}}
{{- toYaml (include "model-rollouts.shippedObject" . | fromYaml).rules -}}
{{- end -}}

{{/*
The watched namespaces: [""] (all) in cluster scope, rbac.namespaces in namespaced scope. The
controller takes one --namespace, so namespaced scope runs one Deployment per namespace.
*/}}
{{- define "model-rollouts.watched" -}}
{{- if eq .Values.rbac.scope "namespaced" -}}
{{- if not .Values.rbac.namespaces -}}
{{- fail "rbac.namespaces: rbac.scope namespaced needs at least one namespace to watch" -}}
{{- end -}}
{{- toYaml (dict "namespaces" .Values.rbac.namespaces) -}}
{{- else -}}
{{- toYaml (dict "namespaces" (list "")) -}}
{{- end -}}
{{- end -}}

{{/* The name of the controller Deployment (and its PDB and Lease) watching one namespace ("" = all). */}}
{{- define "model-rollouts.deploymentName" -}}
{{- $root := index . 0 -}}
{{- $watched := index . 1 -}}
{{- $base := include "model-rollouts.serviceAccountName" $root -}}
{{- if $watched -}}
{{- $name := printf "%s-%s" $base $watched -}}
{{- if gt (len $name) 63 -}}
{{- /* a hash of the whole keeps two long namespaces with one prefix apart */ -}}
{{- $name = printf "%s-%s" ($name | trunc 54 | trimSuffix "-") ($name | sha256sum | trunc 8) -}}
{{- end -}}
{{- $name -}}
{{- else -}}
{{- $base -}}
{{- end -}}
{{- end -}}

{{/* The selector of that Deployment's pods. */}}
{{- define "model-rollouts.deploymentSelector" -}}
{{- $root := index . 0 -}}
{{- $watched := index . 1 -}}
{{ include "model-rollouts.selectorLabels" $root }}
{{- if $watched }}
rollouts.modelops.io/watches: {{ $watched }}
{{- end }}
{{- end -}}

{{/* The text of a file of the chart, failing with why it was wanted if it is missing. */}}
{{- define "model-rollouts.file" -}}
{{- $text := .root.Files.Get .path -}}
{{- if not $text -}}
{{- fail (printf "%s needs %s in the chart, and it is missing" .what .path) -}}
{{- end -}}
{{- $text -}}
{{- end -}}
