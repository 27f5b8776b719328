# etcd and kube-apiserver v1.20.2 on loopback for test/e2e/run.sh. Sourced, not run; needs
# test/e2e/lib.sh. Everything lives in $KUBE_DIR (a directory of the run): the PKI, the admin
# kubeconfig, etcd's data, the logs and the PIDs. Processes are started and stopped by the PIDs
# recorded there, never found by name. Ports are free ones picked at start, so two runs (or the
# recipe in ../shared) do not collide.
#   KUBE_APISERVER  the binary (test/e2e/kube/build.sh prints it)
#   KUBE_DIR        the run's directory

kube_pki=""
# A TCP port on loopback that nothing listens on now.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# openssl's signing, for the API server's own certificates and the client certificates the
# tests act with. RBAC takes the user from the CN and the groups from each O.
sign_cert() {  # sign_cert NAME SUBJECT EXTENSIONS...  -> $kube_pki/NAME.{crt,key}
  local name=$1 subject=$2
  shift 2
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$kube_pki/$name.key" \
    -subj "$subject" -out "$kube_pki/$name.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "$@" >"$kube_pki/$name.ext"
  openssl x509 -req -in "$kube_pki/$name.csr" -CA "$kube_pki/ca.crt" -CAkey "$kube_pki/ca.key" \
    -CAcreateserial -days 2 -sha256 -extfile "$kube_pki/$name.ext" -out "$kube_pki/$name.crt" 2>/dev/null
  rm -f "$kube_pki/$name.csr" "$kube_pki/$name.ext"
}
sign_client_cert() {  # sign_client_cert NAME SUBJECT
  sign_cert "$1" "$2" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth"
}

# A kubeconfig that authenticates with the client certificate NAME.
write_kubeconfig() {  # write_kubeconfig NAME FILE
  cat >"$2" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$kube_port
      certificate-authority-data: $(base64 -w0 "$kube_pki/ca.crt")
users:
  - name: $1
    user:
      client-certificate-data: $(base64 -w0 "$kube_pki/$1.crt")
      client-key-data: $(base64 -w0 "$kube_pki/$1.key")
contexts:
  - name: e2e
    context: {cluster: e2e, user: $1}
current-context: e2e
KUBECONFIG
  chmod 600 "$2"
}

kube_init() {
  kube_pki=$KUBE_DIR/pki
  mkdir -p "$kube_pki" "$KUBE_DIR/logs"
  kube_port=$(free_port)
  etcd_port=$(free_port)
  etcd_peer_port=$(free_port)
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$kube_pki/ca.key" -subj "/CN=stratum-guard-e2e-ca" -out "$kube_pki/ca.crt" 2>/dev/null
  sign_cert apiserver "/CN=kube-apiserver" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost"
  sign_client_cert admin "/O=system:masters/CN=e2e-admin"
  openssl genrsa -out "$kube_pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$kube_pki/sa.key" -pubout -out "$kube_pki/sa.pub" 2>/dev/null
  write_kubeconfig admin "$KUBE_DIR/admin.kubeconfig"
}

# start_bg NAME COMMAND...: the PID recorded is the program's own (exec), in its own session so
# that a signal to the test's terminal does not reach it before the trap stops it.
start_bg() {
  local name=$1
  shift
  setsid "$@" >"$KUBE_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$KUBE_DIR/$name.pid"
}

kube_start_etcd() {
  start_bg etcd etcd --name e2e --data-dir "$KUBE_DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "e2e=http://127.0.0.1:$etcd_peer_port" --initial-cluster-state new
  wait_for 60 bash -c "curl -fsS http://127.0.0.1:$etcd_port/health | grep -q '\"health\":\"true\"'" ||
    die "etcd not healthy in 60 s" "$KUBE_DIR/logs/etcd.log"
}

# ServiceAccount admission is off: no token controller runs, and without one no pod could be
# created. Pods then carry no token volume, which the tests do not need.
# Aggregator routing: a webhook's Service reference is dialled at its Endpoints' address (set by
# the test; there is no kube-proxy to route a ClusterIP), still with the TLS server name
# SERVICE.NAMESPACE.svc, so the shipped clientConfig is tested as it is.
kube_start_apiserver() {
  start_bg kube-apiserver "$KUBE_APISERVER" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$kube_port" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --client-ca-file="$kube_pki/ca.crt" --tls-cert-file="$kube_pki/apiserver.crt" \
    --tls-private-key-file="$kube_pki/apiserver.key" \
    --service-account-key-file="$kube_pki/sa.pub" --service-account-signing-key-file="$kube_pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC \
    --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ValidatingAdmissionWebhook,MutatingAdmissionWebhook \
    --disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none \
    --enable-aggregator-routing=true --profiling=false --v=1
  wait_for 90 bash -c "[[ \$(curl -fsS --cacert '$kube_pki/ca.crt' https://127.0.0.1:$kube_port/readyz) == ok ]]" ||
    die "kube-apiserver not ready in 90 s" "$KUBE_DIR/logs/kube-apiserver.log"
}

kube_stop_apiserver() { stop_pid "$(cat "$KUBE_DIR/kube-apiserver.pid" 2>/dev/null)" 30; }
kube_stop() {
  kube_stop_apiserver
  stop_pid "$(cat "$KUBE_DIR/etcd.pid" 2>/dev/null)" 10
}
