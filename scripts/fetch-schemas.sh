#!/usr/bin/env bash
# Fetches the pinned upstream CRD / JSON schemas that `promoter validate` checks against, into
# $1 (default ../shared/schemas), and verifies each file by SHA-256. Used by GitHub workflows,
# where the schemas are not laid beside the checkout. Sources and tags: see the validator docs.
set -euo pipefail
dest="${1:-$(cd "$(dirname "$0")/.." && pwd)/../shared/schemas}"
istio=https://raw.githubusercontent.com/istio/istio/56df41f63e513f834c9a3af33d8aed82d1d961f2/manifests/charts/base/files
argo=https://raw.githubusercontent.com/argoproj/argo-cd/109ca7ca71139e514114499d294a492e7910a965/manifests/crds
k8s=https://raw.githubusercontent.com/redacid/k8s-json-scheme/200801bf30a49e61e08d34dfaab274f4922741af/v1.30.10-standalone-strict
promop=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/f8fafd475f3d132e239432ae6172de60a6cb6516/example/prometheus-operator-crd
fetch() { # <url> <relative destination> <sha256>
  mkdir -p "$dest/$(dirname "$2")"
  curl -fsSL --retry 3 -o "$dest/$2" "$1"
  echo "$3  $dest/$2" | sha256sum -c --quiet -
}
fetch "$argo/application-crd.yaml" argocd/application-crd.yaml 5dde0e229249b6b707beb98674c1deae3949d5c319a6c45b9f5a80c99618e40c
fetch "$argo/applicationset-crd.yaml" argocd/applicationset-crd.yaml 7d282054f41ca2b71a22bab04a8caf0000e07e53a62432e6ea292dae5ab4f07d
fetch "$argo/appproject-crd.yaml" argocd/appproject-crd.yaml ab225266944322750136f1198d93786e4a79a0e43c8d149abfba44da30a3eac8
fetch "$istio/crd-all.gen.yaml" istio/crd-all.gen.yaml dcb43ff6b9af2f629b80b6a82597f5a91db259c757e66cc5353ac007da28351a
fetch "$k8s/clusterrole-rbac-v1.json" kubernetes/clusterrole-rbac-v1.json 1cd3ebe8b3bfa322033e2e43db13e2a6f4b5361fb4eb3fc497d0e13c61650589
fetch "$k8s/clusterrolebinding-rbac-v1.json" kubernetes/clusterrolebinding-rbac-v1.json dfdcbd934a7365bd8b9baade3d7bab61e9f6350beb33885587d3712ad9a8bee2
fetch "$k8s/configmap-v1.json" kubernetes/configmap-v1.json 0e36f65157f453a2ae67bc1749f2300229aace9b5a42faa54b9b4d747301b9f8
fetch "$k8s/cronjob-batch-v1.json" kubernetes/cronjob-batch-v1.json 45cdb84dfc6a262b07b30c709eacec5eb6f92cd8ba0c1c4f74f9bac142f756a9
fetch "$k8s/deployment-apps-v1.json" kubernetes/deployment-apps-v1.json a7ee9e0be33a87cfd6b4346dd42318b17c4cd98b14d5117b1193c4f4049c1e15
fetch "$k8s/horizontalpodautoscaler-autoscaling-v2.json" kubernetes/horizontalpodautoscaler-autoscaling-v2.json bfe7eb91e177da8922db1c57b8e8716230a68ada39005db9c1fe5a7994b6bd79
fetch "$k8s/job-batch-v1.json" kubernetes/job-batch-v1.json a5b38583f4443529a4ef0d19c1a7307664ccd9edf7a94b74a23ec38f5b665d8b
fetch "$k8s/lease-coordination-v1.json" kubernetes/lease-coordination-v1.json b413fa4d0da209e6d424d1cfb433060b5af5c7029ac3bc95470e5b2724ff4984
fetch "$k8s/namespace-v1.json" kubernetes/namespace-v1.json 21390b90e370b6affbde960c265b33bb08fc56885c61271658bafcdb250bb931
fetch "$k8s/networkpolicy-networking-v1.json" kubernetes/networkpolicy-networking-v1.json c8417707b321ae41f93218d6ef80c603184858c6c6287f275e29e33160cf0a91
fetch "$k8s/poddisruptionbudget-policy-v1.json" kubernetes/poddisruptionbudget-policy-v1.json 49f3ae4af7d9feb81e8b5dec94a57524884bcde79b03e3f4dc169e02c7911901
fetch "$k8s/role-rbac-v1.json" kubernetes/role-rbac-v1.json 412f2fe9d25dbe8c5c9cba127079a319d33e09a2b40c8f3e7fe01d8841a548a8
fetch "$k8s/rolebinding-rbac-v1.json" kubernetes/rolebinding-rbac-v1.json 253886b14732c3c8e7d36f492e88778e498e7fb71b788640d9fea949d690dcee
fetch "$k8s/secret-v1.json" kubernetes/secret-v1.json 2e1cb76e559c9008fbb221daefbac47034bb9d73d909502a057f4ea8c40bfd2d
fetch "$k8s/service-v1.json" kubernetes/service-v1.json b55227d2c6695f73f16e1c7d6243ca87136de59987397b701ce31e72d68912af
fetch "$k8s/serviceaccount-v1.json" kubernetes/serviceaccount-v1.json f9e12b6993f179e46eb5c37baff8c2707804e1d92b28b3ad28f5f11ec014da5a
fetch "$promop/monitoring.coreos.com_prometheusrules.yaml" prometheus-operator/monitoring.coreos.com_prometheusrules.yaml 78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d
fetch "$promop/monitoring.coreos.com_servicemonitors.yaml" prometheus-operator/monitoring.coreos.com_servicemonitors.yaml a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32
echo "schemas verified in $dest"
