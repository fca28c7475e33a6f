"""A simulated Kubernetes API for the embedded AWS's EKS clusters, answered from EC2/EKS state.

HTTPS on 127.0.0.1 with its own certificate authority; DescribeCluster reports its URL as the
cluster's `endpoint` and its CA as `certificateAuthority.data`, so the workflow connects exactly
as it does to EKS. Callers authenticate with an EKS token (the presigned STS GetCallerIdentity
URL is sent to STS with the signed `x-k8s-aws-id` header, as EKS's authenticator does) and are
authorised by the cluster's access entries.

What it answers, and from what:
- `GET /api/v1/nodes`: the running EC2 instances tagged for the cluster (node groups, and any
  instance that joined on its own), with their IPv4 and, if their primary ENI has one, IPv6.
- `GET/PATCH .../daemonsets/aws-node`: the VPC CNI: with the `vpc-cni` add-on, its env is the
  add-on's configurationValues (`env`, `init.env`) over the CNI's defaults; without the add-on
  (self-managed) the DaemonSet is the cluster's own and PATCH changes it.
- Pods (create, get, log, delete): a probe pod runs at once on its node. It gets `v6if0` with an
  `fd00::ac:` address only if ENABLE_V6_EGRESS is on in both CNI containers and the node's
  primary ENI has IPv6 (DOMAIN.md, VPC CNI); its IPv6 egress leaves from the node's address when
  the node's subnet routes `::/0` to an internet or egress-only gateway.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import re
import ssl
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from moto.ec2.models.instances import InstanceBackend
from moto.eks.models import EKSBackend, eks_backends

from local import httpd
from local.gaps.access import policies, secret_of
from local.gaps.timing import CLOCK, NODE_READY_SECONDS
from local.network_path import tcp_out
from local.pod_shell import SHELLS, ImagePullError, Shell, check_image
from local.sigv4 import BadSignature, verify_presigned

FLAG = "ENABLE_V6_EGRESS"
_DEFAULT_ENV = {
    "aws-node": {"ENABLE_IPv4": "true", "ENABLE_IPv6": "false", "WARM_ENI_TARGET": "1"},
    "aws-vpc-cni-init": {"ENABLE_IPv6": "false", "DISABLE_TCP_EARLY_DEMUX": "false"},
}
# What each EKS access policy lets its holder do, as the Kubernetes ClusterRoles behind them do
# (EKS user guide, access policy permissions): view and admin-view read namespaced objects,
# admin-view and cluster-admin also cluster-scoped ones (nodes, namespaces); edit and admin
# write namespaced objects; only cluster-admin writes cluster-scoped ones (a namespace).
NAMESPACED_READ = {
    "AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy", "AmazonEKSEditPolicy",
    "AmazonEKSAdminPolicy", "AmazonEKSClusterAdminPolicy",
}  # fmt: skip
NAMESPACED_WRITE = {"AmazonEKSEditPolicy", "AmazonEKSAdminPolicy", "AmazonEKSClusterAdminPolicy"}
CLUSTER_READ = {"AmazonEKSAdminViewPolicy", "AmazonEKSClusterAdminPolicy"}
CLUSTER_WRITE = {"AmazonEKSClusterAdminPolicy"}
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
# A local-only cluster tag: the Pod Security level the cluster's owner enforces on `default`
# (as `kubectl label namespace default pod-security.kubernetes.io/enforce=<level>` would).
DEFAULT_PSA_TAG = "v6migrate.local/pod-security-default"


# The address the endpoint sees the functions' requests come from (they run outside the VPC,
# so they reach the public endpoint; TEST-NET-2, RFC 5737), and the code `handle` gives for a
# request that gets no answer at all: a private-only endpoint resolves to addresses in the VPC,
# and an address outside `publicAccessCidrs` is not let in (EKS user guide, cluster endpoint
# access control), so the caller's connection just times out.
FUNCTIONS_EGRESS = ipaddress.ip_address("198.51.100.7")
UNREACHABLE = 0


def _reachable(backend: EKSBackend, cluster: str) -> bool:
    config = backend.clusters[cluster].resources_vpc_config or {}
    if not config.get("endpointPublicAccess", True):
        return False
    cidrs = config.get("publicAccessCidrs") or ["0.0.0.0/0"]
    return any(FUNCTIONS_EGRESS in ipaddress.ip_network(c, strict=False) for c in cidrs)


class Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _ec2(backend: EKSBackend) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[backend.account_id][backend.region_name]


def _certificate() -> tuple[bytes, bytes]:
    """A self-signed CA certificate for 127.0.0.1 and its key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "v6migrate local cluster CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass
class ClusterState:
    """What the cluster holds beyond AWS's view: pods, and a self-managed aws-node's env."""

    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str]] = field(
        default_factory=lambda: {n: {} for n in ("default", "kube-system", "kube-public")}
    )
    aws_node_env: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in _DEFAULT_ENV.items()}
    )
    generation: int = 1
    # aws-node's pod template as last seen (image, env) and the one before it, with when it
    # changed: the DaemonSet controller rolls the change out node by node from then.
    template: str = ""
    running: tuple[str, bool] | None = None  # (image, flag on) of the pods before the change
    changed_at: float | None = None


@dataclass
class SimulatedClusters:
    url: str = ""
    ca_pem: bytes = b""
    states: dict[tuple[str, str, str], ClusterState] = field(default_factory=dict)
    # Who signed a token's URL: STS asked over HTTP, as EKS does (tests without sockets swap in
    # `identify_in_process`).
    identify: Callable[[str, str], str | None] = field(
        default=lambda url, cluster: sts_caller(url, cluster)
    )
    _server: ThreadingHTTPServer | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------------ server

    def start(self) -> SimulatedClusters:
        if self._server is not None:
            return self
        certificate, key = _certificate()
        with tempfile.TemporaryDirectory() as folder:
            cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert_file.write_bytes(certificate)
            key_file.write_bytes(key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_file, key_file)
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                code, payload, kind = sim.handle(method, self.path, dict(self.headers), body)
                if code == UNREACHABLE:
                    self.close_connection = True
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def do_DELETE(self) -> None:
                self._answer("DELETE")

        self._server, self.url = httpd.serve(Handler, "v6-k8s", context)
        self.ca_pem = certificate
        return self

    def stop(self) -> None:
        httpd.shut(self._server)
        self._server, self.url = None, ""
        self.states.clear()

    def endpoint(self, account: str, region: str, cluster: str) -> str:
        return f"{self.url}/clusters/{account}/{region}/{cluster}"

    # ------------------------------------------------------------------ requests

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, str]:
        match = re.match(r"^/clusters/(\d{12})/([a-z0-9-]+)/([^/]+)(/.*)$", path)
        if not match:
            return 404, {"kind": "Status", "message": "not found"}, "application/json"
        account, region, name, rest = match.groups()
        try:
            backend = eks_backends[account][region]
            if name not in backend.clusters:
                raise Refused(404, f"cluster {name} not found")
            if not _reachable(backend, name):
                return UNREACHABLE, {}, "application/json"
            principal = self._authenticate(headers, name)
            namespace = self._namespace(rest)
            self._authorise(backend, name, principal, method, namespace)
            with self._lock:
                state = self.states.get((account, region, name))
                if state is None:
                    state = self.states.setdefault((account, region, name), ClusterState())
                    level = (backend.clusters[name].tags or {}).get(DEFAULT_PSA_TAG)
                    if level:
                        state.namespaces["default"][PSA_ENFORCE] = level
                code, payload = self._route(backend, name, state, method, rest, body)
        except Refused as refused:
            return refused.code, {"kind": "Status", "message": str(refused)}, "application/json"
        except Exception as error:  # the simulation's own bug: say so, as an API server would
            return (
                500,
                {"kind": "Status", "message": f"{type(error).__name__}: {error}"},
                ("application/json"),
            )
        if isinstance(payload, str):
            return code, payload.encode(), "text/plain"
        return code, payload, "application/json"

    @staticmethod
    def _namespace(rest: str) -> str | None:
        found = re.match(r"^/apis?/[^/]+(?:/v1)?/namespaces/([^/]+)/", rest)
        return found.group(1) if found else None

    def _authenticate(self, headers: dict[str, str], cluster: str) -> str:
        """The caller's IAM principal, from STS, as EKS's authenticator finds it."""
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer k8s-aws-v1."):
            raise Refused(401, "Unauthorized: an EKS token is required")
        encoded = auth.removeprefix("Bearer k8s-aws-v1.")
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except ValueError as error:
            raise Refused(401, "Unauthorized: the token is not base64") from error
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        if query.get("Action") != ["GetCallerIdentity"]:
            raise Refused(401, "Unauthorized: the token is not a GetCallerIdentity URL")
        if "x-k8s-aws-id" not in (query.get("X-Amz-SignedHeaders") or [""])[0].split(";"):
            raise Refused(401, "Unauthorized: the token does not sign x-k8s-aws-id")
        if int((query.get("X-Amz-Expires") or ["0"])[0]) > 60:
            raise Refused(401, "Unauthorized: the token is valid for more than 60 s")
        signed = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
        if datetime.datetime.now(datetime.UTC) - signed > datetime.timedelta(seconds=60 + 15):
            raise Refused(401, "Unauthorized: the token has expired")
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            raise Refused(401, "Unauthorized: the token's URL is not http(s)")
        try:
            # EKS has STS check the signature over the URL with x-k8s-aws-id set to this
            # cluster's name: a token for another cluster, altered or expired, fails here.
            verify_presigned(
                url, {"x-k8s-aws-id": cluster}, secret_of, datetime.datetime.now(datetime.UTC)
            )
        except BadSignature as error:
            raise Refused(401, f"Unauthorized: {error}") from error
        arn = self.identify(url, cluster)
        if not arn:
            raise Refused(401, "Unauthorized: STS named no caller")
        return iam_principal(arn)

    @staticmethod
    def _authorise(
        backend: EKSBackend, cluster: str, principal: str, method: str, namespace: str | None
    ) -> None:
        granted = policies(backend, cluster, principal)
        if not granted:
            raise Refused(403, f"Forbidden: {principal} has no access entry in {cluster}")
        write = method != "GET"
        if namespace is None:
            wanted = CLUSTER_WRITE if write else CLUSTER_READ
        else:
            wanted = NAMESPACED_WRITE if write else NAMESPACED_READ
        for policy in granted:
            name = policy["policyArn"].rsplit("/", 1)[-1]
            scope = policy["accessScope"]
            in_scope = scope.get("type") == "cluster" or (
                namespace is not None and namespace in scope.get("namespaces", [])
            )
            if in_scope and name in wanted:
                return
        where = f"in namespace {namespace}" if namespace else "at the cluster scope"
        raise Refused(403, f"Forbidden: {principal} may not {method} here ({where})")

    def _route(
        self, backend: EKSBackend, cluster: str, state: ClusterState, method: str, rest: str,
        body: bytes,
    ) -> tuple[int, Any]:  # fmt: skip
        if rest == "/api/v1/nodes" and method == "GET":
            items = [n["node"] for n in _nodes(backend, cluster)]
            return 200, {"kind": "NodeList", "items": items + _fargate_nodes(backend, cluster)}
        if rest == "/apis/apps/v1/namespaces/kube-system/daemonsets/aws-node":
            if method == "PATCH":
                self._patch_aws_node(backend, cluster, state, json.loads(body or b"{}"))
            elif method != "GET":
                raise Refused(405, f"{method} is not supported on the aws-node DaemonSet")
            return 200, _daemonset(backend, cluster, state)
        pods = re.match(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/log)?$", rest)
        if pods:
            return self._pods(backend, cluster, state, method, pods.groups(), body)
        namespaces = re.match(r"^/api/v1/namespaces(?:/([^/]+))?$", rest)
        if namespaces:
            return self._namespaces(state, method, namespaces.group(1), body)
        raise Refused(404, f"{rest} is not served by the simulated cluster")

    def _patch_aws_node(
        self, backend: EKSBackend, cluster: str, state: ClusterState, patch: dict[str, Any]
    ) -> None:
        _template(backend, cluster, state)  # the template the patch changes
        addon = _addon(backend, cluster)
        # With the add-on, a patch is a change made outside EKS ("out of band"): it shows on
        # the DaemonSet until an add-on update with resolveConflicts OVERWRITE replaces it;
        # PRESERVE keeps it (EKS user guide, add-on field management).
        target = state.aws_node_env if addon is None else addon.setdefault("_v6_out_of_band", {})
        spec = patch.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            env = target.setdefault(container["name"], {})
            for entry in container.get("env", []):
                if entry.get("$patch") == "delete":
                    env.pop(entry["name"], None)
                else:
                    env[entry["name"]] = str(entry.get("value", ""))

    @staticmethod
    def _namespaces(
        state: ClusterState, method: str, name: str | None, body: bytes
    ) -> tuple[int, Any]:
        def view(ns: str) -> dict[str, Any]:
            return {"kind": "Namespace", "metadata": {"name": ns, "labels": state.namespaces[ns]},
                    "status": {"phase": "Active"}}  # fmt: skip

        if method == "POST" and name is None:
            wanted = json.loads(body or b"{}").get("metadata", {})
            new = str(wanted.get("name", ""))
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", new):
                raise Refused(422, f"Namespace {new!r} is invalid: a DNS-1123 label is required")
            if new in state.namespaces:
                raise Refused(409, f'namespaces "{new}" already exists')
            state.namespaces[new] = {
                str(k): str(v) for k, v in (wanted.get("labels") or {}).items()
            }
            return 201, view(new)
        if name is None:
            return 200, {"kind": "NamespaceList", "items": [view(n) for n in state.namespaces]}
        if name not in state.namespaces:
            raise Refused(404, f'namespaces "{name}" not found')
        if method == "GET":
            return 200, view(name)
        if method == "DELETE":
            for key in [k for k in state.pods if k[0] == name]:
                del state.pods[key]  # a namespace takes its objects with it
            del state.namespaces[name]
            return 200, {"kind": "Status", "status": "Success"}
        raise Refused(405, f"{method} is not supported on namespaces")

    def _pods(
        self, backend: EKSBackend, cluster: str, state: ClusterState, method: str,
        parts: tuple[str | None, ...], body: bytes,
    ) -> tuple[int, Any]:  # fmt: skip
        namespace, name, log = parts
        assert namespace is not None
        if namespace not in state.namespaces:
            raise Refused(404, f'namespaces "{namespace}" not found')
        if method == "POST" and name is None:
            pod = json.loads(body or b"{}")
            pod_name = pod.get("metadata", {}).get("name", "")
            if (namespace, pod_name) in state.pods:
                raise Refused(409, f"pods {pod_name} already exists")
            level = state.namespaces[namespace].get(PSA_ENFORCE, "privileged")
            violations = pod_security_violations(pod, level)
            if violations:
                raise Refused(
                    403,
                    f'pods "{pod_name}" is forbidden: violates PodSecurity "{level}:latest": '
                    + ", ".join(violations),
                )
            state.pods[(namespace, pod_name)] = _run(backend, cluster, state, namespace, pod)
            return 201, state.pods[(namespace, pod_name)]["pod"]
        found = state.pods.get((namespace, name or ""))
        if found is None:
            raise Refused(404, f"pods {name} not found")
        if method == "DELETE":
            del state.pods[(namespace, name or "")]
            return 200, {"kind": "Status", "status": "Success"}
        if method == "GET":
            return 200, (found["log"] if log else found["pod"])
        raise Refused(405, f"{method} is not supported on pods")


def pod_security_violations(pod: dict[str, Any], level: str) -> list[str]:
    """What the Pod Security Standards forbid in `pod` at `level` (Kubernetes docs, Pod Security
    Standards: baseline and restricted; the checks the workflow's probe pods meet)."""
    if level not in ("baseline", "restricted"):
        return []
    spec = pod.get("spec", {})
    pod_context = spec.get("securityContext") or {}
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    found: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"host namespaces ({key}=true)")
    for container in containers:
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f'privileged (container "{container.get("name")}")')
    if any((v.get("hostPath") is not None) for v in spec.get("volumes", [])):
        found.append("hostPath volumes")
    if level == "baseline":
        return found
    for container in containers:
        context = container.get("securityContext") or {}
        name = container.get("name")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f'allowPrivilegeEscalation != false (container "{name}")')
        dropped = (context.get("capabilities") or {}).get("drop") or []
        if "ALL" not in dropped:
            found.append(f'unrestricted capabilities (container "{name}" must drop ALL)')
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f'runAsNonRoot != true (container "{name}")')
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append(f'runAsUser=0 (container "{name}")')
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get(
            "type"
        )
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f'seccompProfile (container "{name}" must be RuntimeDefault)')
    return found


def _addon(backend: EKSBackend, cluster: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        backend.__dict__.get("_v6_addons", {}).get(cluster, {}).get("vpc-cni")
    )
    return found


def _addon_env(backend: EKSBackend, cluster: str) -> dict[str, dict[str, str]] | None:
    addon = _addon(backend, cluster)
    if addon is None:
        return None
    values = json.loads(addon.get("configurationValues") or "{}")
    env = {k: dict(v) for k, v in _DEFAULT_ENV.items()}
    env["aws-node"].update({k: str(v) for k, v in (values.get("env") or {}).items()})
    init = (values.get("init") or {}).get("env") or {}
    env["aws-vpc-cni-init"].update({k: str(v) for k, v in init.items()})
    for container, changed in (addon.get("_v6_out_of_band") or {}).items():
        env.setdefault(container, {}).update(changed)
    return env


def _aws_node_image(backend: EKSBackend, cluster: str) -> str:
    """The CNI image with its version tag: the add-on's version, or for a self-managed CNI the
    version the cluster's local-only tag `v6migrate.local/aws-node-version` names (the seeder's
    stand-in for whoever installed it)."""
    addon = _addon(backend, cluster)
    tags = backend.clusters[cluster].tags or {}
    version = (
        addon["addonVersion"] if addon else tags.get("v6migrate.local/aws-node-version", "v1.18.3")
    )
    registry = f"602401143452.dkr.ecr.{backend.region_name}.amazonaws.com"
    return f"{registry}/amazon-k8s-cni:{version}"


def _cni_env(backend: EKSBackend, cluster: str, state: ClusterState) -> dict[str, dict[str, str]]:
    return _addon_env(backend, cluster) or state.aws_node_env


def _crashing(version: str, egress_on: bool, node_has_ipv6: bool) -> bool:
    """aws-node exits at start on a node without IPv6 when ENABLE_V6_EGRESS is on, from v1.13.0
    (the flag's first release) until the fix in v1.16.3 (VPC CNI release notes; DOMAIN.md, VPC
    CNI): the pod restarts for ever (CrashLoopBackOff), and the node's pods get no network."""
    found = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", version.rsplit(":", 1)[-1])
    if not found or not egress_on or node_has_ipv6:
        return False
    return (1, 13, 0) <= tuple(int(p) for p in found.groups()) < (1, 16, 3)


# The aws-node DaemonSet's update strategy (amazon-vpc-cni-k8s manifest): RollingUpdate,
# maxUnavailable "10%", which the DaemonSet controller scales rounding up (at least one pod).
AWS_NODE_MAX_UNAVAILABLE_PERCENT = 10
# How long the controller takes to see a new template (status.observedGeneration lags
# metadata.generation until then), and how long a new aws-node pod takes to be ready: assumed
# figures, of the order a cluster shows, not documented ones.
OBSERVE_SECONDS = 1.0
AWS_NODE_READY_SECONDS = 15.0


def rolling_update(
    crash_new: list[bool], crash_old: list[bool], elapsed: float | None
) -> dict[str, Any]:
    """A DaemonSet's rolling update `elapsed` seconds after its template changed (None: no
    change), over its nodes in update order: whether the change is observed yet, how many
    pods run the new template, how many are available. Pods unavailable on the old template
    are replaced at once; the rest in turn, never more than maxUnavailable unavailable at a
    time, so a new pod that never gets ready (a crash loop) holds the rollout where it is
    (Kubernetes DaemonSet rolling update; `kubectl rollout status` waits on these fields)."""
    count = len(crash_new)
    if elapsed is None:
        return {"observed": True, "updated": count, "available": count - sum(crash_new)}
    if elapsed < OBSERVE_SECONDS:
        return {"observed": False, "updated": count, "available": count - sum(crash_old)}
    now = elapsed - OBSERVE_SECONDS
    limit = max(1, -(-count * AWS_NODE_MAX_UNAVAILABLE_PERCENT // 100))  # rounded up
    order = [i for i in range(count) if crash_old[i]] + [
        i for i in range(count) if not crash_old[i]
    ]
    started: dict[int, float] = {i: 0.0 for i in order if crash_old[i]}
    moment = 0.0
    while True:
        busy = [
            i for i, at in started.items() if crash_new[i] or at + AWS_NODE_READY_SECONDS > moment
        ]
        for i in order:
            if len(busy) >= limit:
                break
            if i not in started:
                started[i] = moment
                busy.append(i)
        upcoming = [at + AWS_NODE_READY_SECONDS for i, at in started.items()
                    if not crash_new[i] and at + AWS_NODE_READY_SECONDS > moment]  # fmt: skip
        if not upcoming or min(upcoming) > now:
            break
        moment = min(upcoming)
    available = sum(
        not crash_new[i] and at + AWS_NODE_READY_SECONDS <= now for i, at in started.items()
    ) + sum(not crash_old[i] for i in range(count) if i not in started)
    return {"observed": True, "updated": len(started), "available": available}


def _egress_on(env: dict[str, dict[str, str]]) -> bool:
    return all(env[c].get(FLAG) == "true" for c in ("aws-node", "aws-vpc-cni-init"))


def _template(
    backend: EKSBackend, cluster: str, state: ClusterState
) -> tuple[dict[str, dict[str, str]], str, bool]:
    """aws-node's pod template now (env, image, flag on); a change since it was last seen (a
    patch, an add-on update) is a new generation for the controller to roll out."""
    env = _cni_env(backend, cluster, state)
    image = _aws_node_image(backend, cluster)
    template = json.dumps([image, env], sort_keys=True)
    if template != state.template:
        if state.template:
            before = json.loads(state.template)
            state.running = (before[0], _egress_on(before[1]))
            state.changed_at = CLOCK.now()
            state.generation += 1
        state.template = template
    return env, image, _egress_on(env)


def _daemonset(backend: EKSBackend, cluster: str, state: ClusterState) -> dict[str, Any]:
    env, image, egress_on = _template(backend, cluster, state)
    nodes = sorted(_nodes(backend, cluster), key=lambda n: str(n["node"]["metadata"]["name"]))
    count = len(nodes)
    running = state.running or (image, egress_on)
    crash_new = [_crashing(image, egress_on, bool(n["ipv6"])) for n in nodes]
    crash_old = [_crashing(running[0], running[1], bool(n["ipv6"])) for n in nodes]
    elapsed = None if state.changed_at is None else CLOCK.now() - state.changed_at
    rollout = rolling_update(crash_new, crash_old, elapsed)
    settled = count - sum(crash_new)
    if rollout["observed"] and rollout["updated"] == count and rollout["available"] == settled:
        state.changed_at = None  # rolled out: every pod runs this template

    def container(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "image": _aws_node_image(backend, cluster),
            "env": [{"name": k, "value": v} for k, v in sorted(env[name].items())],
        }

    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "aws-node",
            "namespace": "kube-system",
            "generation": state.generation,
        },
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [container("aws-vpc-cni-init")],
                    "containers": [container("aws-node")],
                }
            }
        },
        "status": {
            "observedGeneration": state.generation - (not rollout["observed"]),
            "desiredNumberScheduled": count,
            "currentNumberScheduled": count,
            "updatedNumberScheduled": rollout["updated"],
            "numberReady": rollout["available"],
            "numberAvailable": rollout["available"],
            "numberUnavailable": count - rollout["available"],
        },
    }


def _nodes(backend: EKSBackend, cluster: str) -> list[dict[str, Any]]:
    ec2 = _ec2(backend)
    found = []
    for reservation in ec2.describe_instances(filters={"instance-state-name": ["running"]}):
        for instance in reservation.instances:
            tags = {t["key"]: t["value"] for t in ec2.describe_tags(
                filters={"resource-id": [instance.id]})}  # fmt: skip
            if (
                tags.get("eks:cluster-name") != cluster
                and f"kubernetes.io/cluster/{cluster}" not in tags
            ):
                continue
            primary = instance.nics[0]
            ipv6 = [str(a) for a in (getattr(primary, "ipv6_addresses", None) or [])]
            node = _node_object(backend, cluster, instance, tags)
            found.append({"node": node, "instance": instance, "ipv6": ipv6})
    return found


def _node_object(
    backend: EKSBackend, cluster: str, instance: Any, tags: dict[str, str]
) -> dict[str, Any]:
    """A Node as kubelet and the AWS cloud provider report it (cloud-provider-aws
    `NodeAddresses`; Kubernetes API reference, NodeStatus.addresses): the primary private IPv4
    as `InternalIP`, a public IPv4 as `ExternalIP`, the private DNS name as `InternalDNS` and
    `Hostname`. The node IP families default to IPv4, so on an IPv4 cluster no IPv6 address is
    listed even when the instance's ENI has one (DOMAIN.md, facts found by review)."""
    addresses = [{"type": "InternalIP", "address": instance.private_ip}]
    if getattr(instance, "public_ip", None):
        addresses.append({"type": "ExternalIP", "address": instance.public_ip})
    if _ip_family(backend, cluster) == "ipv6":
        primary = instance.nics[0]
        addresses += [
            {"type": "InternalIP", "address": str(a)}
            for a in (getattr(primary, "ipv6_addresses", None) or [])
        ]
    addresses += [
        {"type": "InternalDNS", "address": instance.private_dns_name},
        {"type": "Hostname", "address": instance.private_dns_name},
    ]
    launched = getattr(instance, "_v6_launched", None)
    joining = launched is not None and CLOCK.now() - launched < NODE_READY_SECONDS
    ready = {
        "type": "Ready",
        "status": "False" if joining else "True",
        "reason": "KubeletNotReady" if joining else "KubeletReady",
        "message": "container runtime network not ready" if joining
        else "kubelet is posting ready status",
    }  # fmt: skip
    labels = {
        "kubernetes.io/hostname": instance.private_dns_name,
        "node.kubernetes.io/instance-type": instance.instance_type,
    }
    if "eks:nodegroup-name" in tags:
        labels["eks.amazonaws.com/nodegroup"] = tags["eks:nodegroup-name"]
    return {
        "metadata": {"name": instance.private_dns_name, "labels": labels},
        "spec": {"providerID": f"aws:///{instance.placement.zone}/{instance.id}"},
        "status": {"addresses": addresses, "conditions": [ready]},
    }


def _fargate_nodes(backend: EKSBackend, cluster: str) -> list[dict[str, Any]]:
    """Each Fargate pod runs on a node of its own, which Kubernetes lists like any other (EKS
    user guide, Fargate: `fargate-ip-...` nodes, label eks.amazonaws.com/compute-type=fargate,
    no EC2 instance). One running pod per profile here. DaemonSets, aws-node included, do not
    run on them."""
    found = []
    profiles = backend.clusters[cluster].fargate_profiles
    for index, (name, profile) in enumerate(sorted(profiles.items())):
        ip = f"10.255.{index}.{10 + index}"
        node = f"fargate-ip-{ip.replace('.', '-')}.{backend.region_name}.compute.internal"
        subnet = (profile.subnets or [""])[0]
        zone = _ec2(backend).get_subnet(subnet).availability_zone if subnet else ""
        found.append({
            "metadata": {"name": node, "labels": {
                "eks.amazonaws.com/compute-type": "fargate",
                "eks.amazonaws.com/fargate-profile": name,
                "kubernetes.io/hostname": node}},
            "spec": {"providerID": f"aws:///{zone}/{profile.uuid}/{node}"},
            "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                     {"type": "InternalDNS", "address": node},
                                     {"type": "Hostname", "address": node}]},
        })  # fmt: skip
    return found


def _ip_family(backend: EKSBackend, cluster: str) -> str:
    config = getattr(backend.clusters[cluster], "kubernetes_network_config", None) or {}
    return str(config.get("ipFamily", "ipv4"))


def _resolve(host: str) -> str:
    """The address a name resolves to: the probe's echo services publish AAAA records only
    (api6.ipify.org); the simulation gives each name one in 2001:db8::/32 (RFC 3849)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        digest = hashlib.sha256(host.encode()).hexdigest()
        return str(ipaddress.ip_address(f"2001:db8:{digest[:4]}:{digest[4:8]}::{digest[8:12]}"))


def _failed_to_start(pod: dict[str, Any], phase: str, state: dict[str, Any]) -> dict[str, Any]:
    container = (pod.get("spec", {}).get("containers") or [{}])[0]
    pod["status"] = {"phase": phase, "containerStatuses": [
        {"name": container.get("name", ""), "ready": False, "state": state}]}  # fmt: skip
    return {"pod": pod, "log": ""}


def _run(
    backend: EKSBackend, cluster: str, state: ClusterState, namespace: str, pod: dict[str, Any]
) -> dict[str, Any]:
    """Run a pod to completion on its node: its image pulled, its command interpreted
    (`local.pod_shell`), its IPv6 egress decided by the VPC's routes, security groups and
    network ACLs (`local.network_path`), and what it printed kept as its log."""
    node_name = pod.get("spec", {}).get("nodeName")
    nodes = {n["node"]["metadata"]["name"]: n for n in _nodes(backend, cluster)}
    node = nodes.get(node_name or "")
    name = pod["metadata"]["name"]
    if node is None:
        pod["status"] = {"phase": "Pending", "reason": f"node {node_name} not found"}
        return {"pod": pod, "log": ""}
    container = (pod.get("spec", {}).get("containers") or [{}])[0]
    try:
        check_image(str(container.get("image", "")))
    except ImagePullError as error:
        return _failed_to_start(
            pod, "Pending", {"waiting": {"reason": "ErrImagePull", "message": str(error)}}
        )
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    if len(command) != 3 or command[0] not in SHELLS or command[1] != "-c":
        program = command[0] if command else "(the image's entrypoint)"
        message = f'exec: "{program}": not run by the simulated busybox (only sh -c)'
        return _failed_to_start(pod, "Failed", {"terminated": {
            "reason": "StartError", "exitCode": 128, "message": message}})  # fmt: skip
    env = _cni_env(backend, cluster, state)
    egress_on = all(env[c].get(FLAG) == "true" for c in ("aws-node", "aws-vpc-cni-init"))
    v6if0 = bool(egress_on and node["ipv6"])
    host = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 1021 + 2

    def interface(device: str) -> str | None:
        if device != "v6if0" or not v6if0:
            return None
        return (
            "3: v6if0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 state UP qlen 1000\n"
            f"    inet6 fd00::ac:{host:x}/118 scope global\n"
            "       valid_lft forever preferred_lft forever\n"
        )

    def connect(url: str, timeout: float) -> tuple[str | None, str]:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return None, f"bad address '{url}'"
        destination = _resolve(parsed.hostname)
        if ipaddress.ip_address(destination).version == 4:
            return node["instance"].private_ip, ""
        if not v6if0:
            # An IPv4 pod without the CNI's egress interface has no IPv6 route at all.
            return None, "can't connect to remote host: Network unreachable"
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if tcp_out(_ec2(backend), node["instance"], destination, port) is not None:
            return None, "download timed out"  # dropped on the way: the pod sees no answer
        # The echo service answers with the source it saw: the CNI translates the pod's
        # address to its node's primary-ENI IPv6 address (DOMAIN.md, VPC CNI).
        return node["ipv6"][0], ""

    outcome = Shell(interface, connect).run(str(command[2]))
    pod["status"] = {
        "phase": "Succeeded" if outcome.exit_code == 0 else "Failed",
        "hostIP": node["instance"].private_ip,
        "containerStatuses": [{"name": container.get("name", ""), "ready": False, "state": {
            "terminated": {"exitCode": outcome.exit_code,
                           "reason": "Completed" if outcome.exit_code == 0 else "Error"}}}],
    }  # fmt: skip
    return {"pod": pod, "log": outcome.output}


def iam_principal(caller_arn: str) -> str:
    """The IAM principal an STS caller ARN stands for, as EKS's authenticator maps it: an
    assumed-role session is its role, with the role's path (looked up in IAM; EKS user guide,
    access entries: a role ARN may include a path); a user is itself."""
    from moto.iam.models import iam_backends

    parts = caller_arn.split(":")
    if len(parts) != 6 or not parts[5].startswith("assumed-role/"):
        return caller_arn
    account, name = parts[4], parts[5].split("/")[1]
    for backend in iam_backends[account].values():
        for role in backend.roles.values():
            if role.name == name:
                return str(role.arn)
    raise Refused(401, f"Unauthorized: no IAM role {name} in {account}")


def sts_caller(url: str, cluster: str) -> str | None:
    """Send the presigned GetCallerIdentity to STS with the cluster header; the caller's ARN."""
    request = urllib.request.Request(url, headers={"x-k8s-aws-id": cluster})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            document = answer.read().decode()
    except OSError as error:
        raise Refused(401, f"Unauthorized: STS refused the token ({error})") from error
    found = re.search(r"<Arn>([^<]+)</Arn>", document)
    return found.group(1) if found else None


def identify_in_process(url: str, cluster: str) -> str | None:
    """The signer of a presigned URL, from moto's STS state (for tests that have no sockets)."""
    from moto.sts.models import sts_backends

    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    key = (query.get("X-Amz-Credential") or [""])[0].split("/")[0]
    for account in list(sts_backends):
        for backend in sts_backends[account].values():
            role = backend.get_assumed_role_from_access_key(key)
            if role is not None:
                return str(role.arn)
    return None


SIM = SimulatedClusters()


def node_launch_clock() -> None:
    """Each instance keeps when it launched on the simulated clock (moto's launch time is the
    wall clock's), from which its node turns Ready (`NODE_READY_SECONDS`)."""
    original = InstanceBackend.run_instances
    if getattr(original, "_v6migrate", False):
        return

    def run_instances(self: InstanceBackend, *args: Any, **kwargs: Any) -> Any:
        reservation = original(self, *args, **kwargs)
        for instance in reservation.instances:
            instance.__dict__["_v6_launched"] = CLOCK.now()
        return reservation

    run_instances._v6migrate = True  # type: ignore[attr-defined]
    InstanceBackend.run_instances = run_instances  # type: ignore[method-assign]


def cluster_endpoint() -> None:
    """DescribeCluster reports the simulated API server and its CA while it runs."""
    original = EKSBackend.describe_cluster
    if getattr(original, "_v6migrate", False):
        return

    def describe_cluster(self: EKSBackend, name: str) -> Any:
        cluster = original(self, name)
        if SIM.url:
            cluster.endpoint = SIM.endpoint(self.account_id, self.region_name, name)
            cluster.certificate_authority = {"data": base64.b64encode(SIM.ca_pem).decode()}
        return cluster

    describe_cluster._v6migrate = True  # type: ignore[attr-defined]
    EKSBackend.describe_cluster = describe_cluster  # type: ignore[method-assign]
