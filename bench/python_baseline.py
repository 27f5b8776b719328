#!/usr/bin/python3
"""The naive sweep the project started from, as the baseline of the sweeper scale benchmark.

Lists every pod with the official Kubernetes client (python3-kubernetes from Debian) and looks
for "stratum+tcp" in each container's command and args, the way a quick script would:

    pods = v1.list_pod_for_all_namespaces()
    for pod in pods.items:
        for c in pod.spec.containers:
            if any("stratum+tcp" in s for s in (c.command or []) + (c.args or [])): ...

--limit 0 (the default) lists in one call, as that script does; --limit N pages through the
list with limit/_continue. Prints one line: RESULT mode=... pods=N matches=M elapsed_s=S.
Peak memory comes from /usr/bin/time -v around it (bench/run.sh).

Run with /usr/bin/python3 (Debian's, which has the kubernetes module), not another python on
PATH: /usr/bin/python3 bench/python_baseline.py --kubeconfig K [--limit N]
"""

import argparse
import sys
import time

from kubernetes import client, config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--limit", type=int, default=0,
                        help="page size; 0 lists everything in one call")
    parser.add_argument("--timeout", type=int, default=900,
                        help="per-request timeout in seconds")
    args = parser.parse_args()

    start = time.monotonic()
    config.load_kube_config(config_file=args.kubeconfig)
    v1 = client.CoreV1Api()
    pods = 0
    matches = []
    token = None
    while True:
        kwargs = {"_request_timeout": args.timeout}
        if args.limit > 0:
            kwargs["limit"] = args.limit
            if token:
                kwargs["_continue"] = token
        page = v1.list_pod_for_all_namespaces(**kwargs)
        for pod in page.items:
            pods += 1
            for c in pod.spec.containers or []:
                if any("stratum+tcp" in s for s in (c.command or []) + (c.args or [])):
                    matches.append(pod.metadata.namespace + "/" + pod.metadata.name)
                    break
        token = page.metadata._continue
        if args.limit <= 0 or not token:
            break
    elapsed = time.monotonic() - start
    mode = "one-call" if args.limit <= 0 else "paginated-%d" % args.limit
    print("RESULT mode=%s pods=%d matches=%d elapsed_s=%.2f" % (mode, pods, len(matches), elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
