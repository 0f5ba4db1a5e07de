#!/usr/bin/env bash
# A real Kubernetes control plane for the tests, built from the Go module proxy and run as local
# processes by kwokctl's binary runtime (kwok fakes the nodes and drives pod status).
#
#   scripts/k8s-testenv.sh build    build once; binaries cached outside the repo, keyed by versions
#   scripts/k8s-testenv.sh up       start a cluster on 127.0.0.1; prints the kubeconfig path
#   scripts/k8s-testenv.sh down     stop it and remove its working directory
#   scripts/k8s-testenv.sh env      print `export K8S_TESTENV_KUBECONFIG=...` for a running cluster
#   scripts/k8s-testenv.sh restart-apiserver [name]   restart the API server alone (tests of recovery)
#
# The build modules (go.mod + go.sum, pinned) live in scripts/k8s-testenv/{kube,etcd,kwok}.
# See docs/kubernetes-testenv.md.
set -euo pipefail

KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
modules="$here/k8s-testenv"
cache_root="${K8S_TESTENV_CACHE:-/var/cache/workload-api-k8s}"
bin="$cache_root/k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}/bin"
cluster="${K8S_TESTENV_CLUSTER:-workload-api-test}"
workdir="${K8S_TESTENV_WORKDIR:-${TMPDIR:-/tmp}/workload-api-kwok}"
state="$workdir/current-kubeconfig"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)

log() { printf '[k8s-testenv] %s\n' "$*" >&2; }

have_all() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}

build() {
  if have_all; then
    log "reusing $bin"
    return 0
  fi
  mkdir -p "$bin"
  local tmp="$bin.partial"
  rm -rf "$tmp" && mkdir -p "$tmp"
  export CGO_ENABLED=0 GOFLAGS=-mod=readonly
  local start=$SECONDS
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local stamp=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done

  log "building etcd $ETCD_VERSION"
  (cd "$modules/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)

  log "building kwok, kwokctl $KWOK_VERSION"
  (cd "$modules/kwok" && go build -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" \
    -o "$tmp/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl)

  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBE_VERSION"
  (cd "$modules/kube" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "-s -w$stamp" \
    -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)

  mv "$tmp"/* "$bin/" && rmdir "$tmp"
  log "built in $((SECONDS - start))s into $bin"
}

# The kwokctl configuration: local binaries only (nothing is downloaded), 127.0.0.1, fast etcd,
# followed by our Stages.
write_config() {
  local file="$1"
  cat >"$file" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeVersion: ${KUBE_VERSION}
  etcdVersion: ${ETCD_VERSION#v}
  kwokVersion: ${KWOK_VERSION}
  kubeApiserverBinary: $bin/kube-apiserver
  kubeControllerManagerBinary: $bin/kube-controller-manager
  kubeSchedulerBinary: $bin/kube-scheduler
  kubectlBinary: $bin/kubectl
  kwokControllerBinary: $bin/kwok
  etcdBinary: $bin/etcd
  disableQPSLimits: true
componentsPatches:
- name: etcd
  extraArgs:
  - key: unsafe-no-fsync
    value: "true"
EOF
  cat "$modules/stages.yaml" >>"$file"
}

kwokctl() {
  KWOK_WORKDIR="$workdir" PATH="$bin:$PATH" "$bin/kwokctl" "$@"
}

up() {
  have_all || { log "binaries missing in $bin: run '$0 build' first"; exit 1; }
  mkdir -p "$workdir"
  local name="${1:-$cluster}" nodes="${K8S_TESTENV_NODES:-3}"
  local config="$workdir/$name.kwokctl.yaml"
  write_config "$config"
  if kwokctl get clusters 2>/dev/null | grep -qx "$name"; then
    log "deleting the stale cluster $name"
    kwokctl delete cluster --name "$name" >&2 || true
  fi
  local start=$SECONDS
  kwokctl create cluster --name "$name" --config "$config" --kubeconfig "" --wait 3m >&2
  kwokctl scale node --name "$name" --replicas "$nodes" >&2
  local kubeconfig="$workdir/clusters/$name/kubeconfig.yaml"
  "$bin/kubectl" --kubeconfig "$kubeconfig" wait --for=condition=Ready node --all --timeout=120s >&2
  # The default ServiceAccount must exist before pods can be created in a namespace.
  for _ in $(seq 1 60); do
    "$bin/kubectl" --kubeconfig "$kubeconfig" -n default get serviceaccount default >/dev/null 2>&1 && break
    sleep 1
  done
  if [[ "$name" == "$cluster" ]]; then echo "$kubeconfig" >"$state"; fi
  log "cluster $name up in $((SECONDS - start))s; kubeconfig: $kubeconfig"
  echo "$kubeconfig"
}

down() {
  local name="${1:-$cluster}"
  [[ -x "$bin/kwokctl" ]] || return 0
  local dir="$workdir/clusters/$name" pid f
  local -a pids=()
  for f in "$dir"/pids/*.pid; do [[ -f "$f" ]] && pids+=("$(cat "$f")"); done
  kwokctl delete cluster --name "$name" >&2 || true
  # An API server started again by restart-apiserver is not kwokctl's own: none may outlive the
  # cluster (only processes whose command line names this cluster's directory are killed).
  for pid in "${pids[@]}"; do
    if grep -qF "$dir/" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  if [[ "$name" == "$cluster" ]]; then rm -f "$state"; fi
  return 0
}

# Restarts the kube-apiserver of a cluster alone, with its own command line, while etcd, the
# controllers and kwok keep running (they reconnect). Restarting every process instead would leave
# kwok waiting for its own node leases (200 s) and kube-controller-manager for its leader lease.
restart_apiserver() {
  local name="${1:-$cluster}"
  local dir="$workdir/clusters/$name"
  local pidfile="$dir/pids/kube-apiserver.pid"
  local pid; pid="$(cat "$pidfile")"
  local cwd; cwd="$(readlink "/proc/$pid/cwd")"
  local -a args=()
  mapfile -d '' args <"/proc/$pid/cmdline"
  # SIGKILL, as a crash: a graceful shutdown drains watches for many seconds, and the controller
  # manager gives up its leadership (and exits) if the API server is away for 10 s.
  kill -9 "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  # Detached (own session, no inherited descriptors), as kwokctl starts it.
  (cd "$cwd" && exec setsid "${args[@]}" >>"$dir/logs/kube-apiserver.log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
  for _ in $(seq 1 300); do
    "$bin/kubectl" --kubeconfig "$dir/kubeconfig.yaml" get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$bin/kubectl" --kubeconfig "$dir/kubeconfig.yaml" get --raw /readyz >/dev/null
  log "kube-apiserver of $name restarted (pid $(cat "$pidfile"))"
}

case "${1:-}" in
  build) build ;;
  up) shift; up "$@" ;;
  down) shift; down "$@" ;;
  restart-apiserver) shift; restart_apiserver "$@" ;;
  bin) echo "$bin" ;;
  env)
    [[ -f "$state" ]] || { log "no cluster is up (run '$0 up')"; exit 1; }
    echo "export K8S_TESTENV_KUBECONFIG=$(cat "$state")"
    echo "export K8S_TESTENV_BIN=$bin"
    ;;
  *)
    echo "usage: $0 build | up [name] | down [name] | restart-apiserver [name] | env | bin" >&2
    exit 2
    ;;
esac
