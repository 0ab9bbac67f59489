#!/usr/bin/env bash
# Bootstraps a cluster for DocuThinker GitOps: installs the pinned Argo CD, then applies the
# AppProject and the root app-of-apps. Everything else (Istio, addons, mesh config, workloads,
# the promoter) is then synced by Argo CD from Git, in the order of the sync waves.
set -euo pipefail

readonly ARGOCD_VERSION="v3.5.1"
readonly ARGOCD_NAMESPACE="argocd"
readonly ARGOCD_INSTALL_URL="https://raw.githubusercontent.com/argoproj/argo-cd/${ARGOCD_VERSION}/manifests/install.yaml"
readonly WAIT_TIMEOUT="300s"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly PROGRAM="scripts/bootstrap.sh"

usage() {
  cat <<EOF
Usage: ${PROGRAM} [--dry-run] <namespace> <profile>

Install Argo CD ${ARGOCD_VERSION} into the current kubectl context and hand the cluster over to Git:
  1. create the '${ARGOCD_NAMESPACE}' namespace and apply the pinned Argo CD install manifest
     (${ARGOCD_INSTALL_URL})
  2. wait for the Argo CD CRDs and the argocd-server, repo-server and application-controller
  3. apply argocd/bootstrap/argocd-cm.yaml (Application health, so sync waves wait),
     argocd/bootstrap/default-project.yaml (empties the permissive "default" project),
     argocd/project.yaml and argocd/project-bootstrap.yaml (AppProjects) and
     argocd/root.yaml (the root app-of-apps)
Argo CD then syncs everything else from Git: istio-base, istiod, gateways, addons, the mesh
config, the workloads and the promoter (argocd/apps/, ordered by sync wave).

Arguments:
  <namespace>   the application namespace; must be the one the profile's overlay deploys to
                (docuthinker-prod for the production profile)
  <profile>     production   (gitops/apps/overlays/prod)

Options:
  --dry-run     print every command and the kind/name of every manifest it would apply,
                and run nothing against a cluster (kubectl is not needed)
  -h, --help    show this help

Examples:
  ${PROGRAM} --dry-run docuthinker-prod production
  ${PROGRAM} docuthinker-prod production
EOF
}

# Prints an error and the usage hint on stderr, then exits 2 (bad invocation).
usage_error() {
  echo "bootstrap: error: $1" >&2
  echo "Run '${PROGRAM} --help' for usage." >&2
  exit 2
}

fail() {
  echo "bootstrap: error: $1" >&2
  exit 1
}

# Maps a profile to the kustomize overlay that Argo CD applies for it.
overlay_for_profile() {
  case "$1" in
    production) echo "gitops/apps/overlays/prod" ;;
    *) return 1 ;;
  esac
}

# The `namespace:` an overlay's kustomization sets (the only namespace the profile deploys to).
overlay_namespace() {
  awk '/^namespace:[[:space:]]*/ { sub(/^namespace:[[:space:]]*/, ""); sub(/[[:space:]]*(#.*)?$/, ""); print; exit }' \
    "${REPO_ROOT}/$1/kustomization.yaml"
}

# Lists "Kind namespace/name" for every document in a manifest file (top-level kind and
# metadata.name/namespace), so the plan says what an apply creates without needing yq.
describe_manifest() {
  awk '
    function flush() {
      if (kind != "") printf "      %s %s%s\n", kind, (namespace != "" ? namespace "/" : ""), name
      kind = ""; name = ""; namespace = ""; in_meta = 0
    }
    /^---/ { flush(); next }
    /^kind:/ { kind = $2; next }
    /^metadata:/ { in_meta = 1; next }
    /^[^[:space:]#]/ { in_meta = 0 }
    in_meta && /^  name:/ { name = $2 }
    in_meta && /^  namespace:/ { namespace = $2 }
    END { flush() }
  ' "$1"
}

# What the root app-of-apps will create, with sync waves, for the plan: every document of every
# file in argocd/apps, by its own kind (promoter-rbac.yaml holds a Role and a RoleBinding, not an
# Application). A document without a sync-wave annotation is in wave 0, as Argo CD has it.
describe_applications() {
  local file
  for file in "${REPO_ROOT}"/argocd/apps/*.yaml; do
    awk '
      function flush() {
        if (kind != "") printf "%s\t%s\t%s%s\n", (wave != "" ? wave : 0), kind, (namespace != "" ? namespace "/" : ""), name
        kind = ""; name = ""; namespace = ""; wave = ""; in_meta = 0
      }
      /^---/ { flush(); next }
      /^kind:/ { kind = $2; next }
      /^metadata:/ { in_meta = 1; next }
      /^[^[:space:]#]/ { in_meta = 0 }
      in_meta && /^  name:/ { name = $2 }
      in_meta && /^  namespace:/ { namespace = $2 }
      in_meta && /argocd\.argoproj\.io\/sync-wave:/ { wave = $2; gsub(/"/, "", wave) }
      END { flush() }
    ' "${file}"
  done | sort -s -n -k1,1 | awk -F'\t' '{ printf "      wave %s: %s %s\n", $1, $2, $3 }'
}

DRY_RUN=false

# Runs one command, or only prints it in dry-run mode.
run() {
  echo "+ $*"
  if [[ "${DRY_RUN}" == false ]]; then
    "$@"
  fi
}

# Applies one manifest file of this repository and says what it contains.
apply_manifest() {
  local relative="$1"
  local file="${REPO_ROOT}/${relative}"
  [[ -f "${file}" ]] || fail "manifest not found: ${relative}"
  run kubectl apply -f "${file}"
  describe_manifest "${file}"
}

main() {
  local positional=()
  while (($# > 0)); do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --dry-run) DRY_RUN=true ;;
      --) shift; positional+=("$@"); break ;;
      -*) usage_error "unknown option '$1'" ;;
      *) positional+=("$1") ;;
    esac
    shift
  done
  if ((${#positional[@]} != 2)); then
    usage_error "expected 2 arguments <namespace> <profile>, got ${#positional[@]}"
  fi
  local namespace="${positional[0]}"
  local profile="${positional[1]}"

  local overlay
  overlay="$(overlay_for_profile "${profile}")" ||
    usage_error "unknown profile '${profile}' (known profiles: production)"
  [[ -f "${REPO_ROOT}/${overlay}/kustomization.yaml" ]] ||
    fail "profile '${profile}' needs ${overlay}/kustomization.yaml, which is missing"
  local expected_namespace
  expected_namespace="$(overlay_namespace "${overlay}")"
  if [[ "${namespace}" != "${expected_namespace}" ]]; then
    usage_error "namespace '${namespace}' is not the one profile '${profile}' deploys to: ${overlay} sets namespace '${expected_namespace}'"
  fi

  if [[ "${DRY_RUN}" == false ]]; then
    command -v kubectl >/dev/null 2>&1 || fail "kubectl not found on PATH (use --dry-run to only print the plan)"
    kubectl cluster-info >/dev/null 2>&1 || fail "no cluster reachable with the current kubectl context ($(kubectl config current-context 2>/dev/null || echo none))"
  fi

  echo "Bootstrap plan: namespace ${namespace}, profile ${profile} (${overlay}), Argo CD ${ARGOCD_VERSION}$([[ "${DRY_RUN}" == true ]] && echo ', dry run: nothing is applied')"

  echo "1. Install Argo CD ${ARGOCD_VERSION}"
  # create | apply keeps the step idempotent when the namespace already exists.
  echo "+ kubectl create namespace ${ARGOCD_NAMESPACE} --dry-run=client -o yaml | kubectl apply -f -"
  if [[ "${DRY_RUN}" == false ]]; then
    kubectl create namespace "${ARGOCD_NAMESPACE}" --dry-run=client -o yaml | kubectl apply -f -
  fi
  echo "      Namespace ${ARGOCD_NAMESPACE}"
  # Server-side apply: the ApplicationSet CRD is larger than client-side apply's annotation limit.
  run kubectl apply --server-side --force-conflicts -n "${ARGOCD_NAMESPACE}" -f "${ARGOCD_INSTALL_URL}"
  echo "      Argo CD ${ARGOCD_VERSION} install manifest (CRDs, RBAC, argocd-server, repo-server, application-controller, ...)"

  echo "2. Wait for Argo CD"
  run kubectl wait --for=condition=Established --timeout="${WAIT_TIMEOUT}" crd/applications.argoproj.io crd/appprojects.argoproj.io
  run kubectl -n "${ARGOCD_NAMESPACE}" rollout status deployment/argocd-server --timeout="${WAIT_TIMEOUT}"
  run kubectl -n "${ARGOCD_NAMESPACE}" rollout status deployment/argocd-repo-server --timeout="${WAIT_TIMEOUT}"
  run kubectl -n "${ARGOCD_NAMESPACE}" rollout status statefulset/argocd-application-controller --timeout="${WAIT_TIMEOUT}"

  echo "3. Hand the cluster over to Git"
  apply_manifest argocd/bootstrap/argocd-cm.yaml
  apply_manifest argocd/bootstrap/default-project.yaml
  apply_manifest argocd/project.yaml
  apply_manifest argocd/project-bootstrap.yaml
  apply_manifest argocd/root.yaml

  echo "Argo CD then creates and syncs, from Git:"
  describe_applications
  if [[ "${DRY_RUN}" == true ]]; then
    echo "Dry run complete: nothing was applied."
  else
    echo "Done. Watch the rollout with: kubectl -n ${ARGOCD_NAMESPACE} get applications -w"
  fi
}

main "$@"
