"""The Kubernetes API of an EKS cluster, from a Lambda, with an EKS token.

DOMAIN.md, Kubernetes API from a Lambda: the token is `k8s-aws-v1.` + the URL-safe base64
(padding stripped) of a presigned STS GetCallerIdentity URL that signs the header
`x-k8s-aws-id: <cluster>`, valid 60 s. The API server's certificate is checked against the
cluster's certificate authority from DescribeCluster. Access comes from an EKS access entry for
the workflow's role, created for the check and removed after (`access`).

Only the few calls the workflow makes: the aws-node DaemonSet, nodes, and one-shot probe pods.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from v6migrate.context import call
from v6migrate.errors import ChangeFailed, TransientError, translate
from v6migrate.models import KubeFacts

if TYPE_CHECKING:
    from v6migrate.context import Context

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a format prefix, not a secret)
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_SECONDS = 60
AWS_NODE = "aws-node"
CONTAINERS = ("aws-node", "aws-vpc-cni-init")
V6_EGRESS = "ENABLE_V6_EGRESS"
VIEW_POLICY = "AmazonEKSAdminViewPolicy"
EDIT_POLICY = "AmazonEKSEditPolicy"
ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


# How requests reach the API server: urllib (https only, checked in `Kube.request`).
OPENER: Any = urllib.request.urlopen


# Container waiting reasons that do not pass by themselves (Kubernetes: images, container config).
CANNOT_START = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                "CreateContainerConfigError", "CreateContainerError")  # fmt: skip


def eks_token(sts: Any, cluster: str) -> str:
    """An EKS bearer token for `cluster`, from the caller's credentials (no secret kept)."""

    from v6migrate.identity import presigned_identity

    url = presigned_identity(sts, CLUSTER_ID_HEADER, cluster, TOKEN_SECONDS)
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return TOKEN_PREFIX + encoded


def role_arn(caller_arn: str, iam: Any = None) -> str:
    """The IAM principal behind the caller (what an access entry names, path included).

    A Lambda function or an assumed target role calls as an STS session,
    `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`; the session ARN drops the
    role's path, which the role's own ARN keeps (`arn:...:role/<path>/<role>`), and an access
    entry for a role must name that (EKS user guide, creating access entries). With `iam`, the
    role is read (GetRole) for its ARN; without it, a path-less ARN is assumed.
    """
    parts = caller_arn.split(":")
    if len(parts) == 6 and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        if iam is not None:
            found = call(iam.get_role, "iam:GetRole", RoleName=role)["Role"]["Arn"]
            return str(found)
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return caller_arn


def principal(ctx: Context) -> str:
    """The access-entry principal of the clients' caller."""
    caller = call(ctx.clients.sts.get_caller_identity, "sts:GetCallerIdentity")["Arn"]
    return role_arn(str(caller), ctx.clients.iam)


def policy_arn(ctx: Context, name: str) -> str:
    """An EKS access policy's ARN in the caller's partition."""
    return f"arn:{ctx.clients.partition}:eks::aws:cluster-access-policy/{name}"


class KubeError(ChangeFailed):
    """The Kubernetes API refused or failed a call."""


class KubeUnauthorized(TransientError):
    """The API server does not (yet) accept the workflow's role."""


class KubeUnreachable(TransientError):
    """No answer from the API server: a private-only endpoint, publicAccessCidrs that leave the
    functions out, or a network fault."""


def rolled_out(daemonset: dict[str, Any]) -> bool:
    """As `kubectl rollout status` decides for a DaemonSet: the controller has seen the latest
    template (until then the counts describe the one before), and every node runs it,
    available."""
    status = daemonset.get("status") or {}
    generation = (daemonset.get("metadata") or {}).get("generation", 0)
    desired = status.get("desiredNumberScheduled", 0)
    return bool(
        status.get("observedGeneration", 0) >= generation
        and status.get("updatedNumberScheduled", 0) >= desired
        and status.get("numberAvailable", 0) >= desired
    )


@dataclass
class Kube:
    endpoint: str
    ca_data: str
    token: Any  # () -> str, a fresh token when the last is near expiry
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            context = ssl.create_default_context()
            pem = base64.b64decode(self.ca_data).decode() if self.ca_data else ""
            if pem:
                context.load_verify_locations(cadata=pem)
            self._ssl = context
        return self._ssl

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        if not self.endpoint.startswith("https://"):
            raise KubeError(f"the cluster endpoint {self.endpoint} is not https")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (https only, checked above)
            self.endpoint.rstrip("/") + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": content_type},
        )
        try:
            with OPENER(request, context=self._context(), timeout=15) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            detail = error.read().decode()[:300]
            if error.code == 404:
                return None
            if error.code in (429, 502, 503, 504):
                raise TransientError(f"kubernetes {method} {path}: {error.code}") from error
            if error.code == 403 and "violates PodSecurity" in detail:
                # Admission, not authorisation: retrying cannot help.
                raise KubeError(
                    f"kubernetes {method} {path}: rejected by Pod Security admission: {detail}"
                ) from error
            if error.code in (401, 403):
                # A new access entry takes a few seconds to be honoured: the state machine
                # retries the step; a lasting refusal fails it after the retries.
                raise KubeUnauthorized(
                    f"kubernetes {method} {path}: {error.code} {detail}"
                ) from error
            raise KubeError(f"kubernetes {method} {path}: {error.code} {detail}") from error
        except (urllib.error.URLError, TimeoutError, http.client.HTTPException) as error:
            raise KubeUnreachable(f"kubernetes {method} {path}: {error}") from error
        return text if raw else (json.loads(text) if text else None)

    # ------------------------------------------------------------------ aws-node

    def aws_node(self) -> dict[str, Any]:
        found = self.request("GET", f"/apis/apps/v1/namespaces/kube-system/daemonsets/{AWS_NODE}")
        if found is None:
            raise KubeError("kube-system/aws-node DaemonSet not found: is the VPC CNI installed?")
        return dict(found)

    def aws_node_env(self) -> dict[str, dict[str, str | None]]:
        """Each CNI container's env (name -> value), init container included."""
        spec = self.aws_node()["spec"]["template"]["spec"]
        found: dict[str, dict[str, str | None]] = {}
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            if container["name"] in CONTAINERS:
                found[container["name"]] = {
                    e["name"]: e.get("value") for e in container.get("env", [])
                }
        return found

    def _patch_env(self, changes: dict[str, dict[str, str | None]]) -> None:
        """A strategic merge patch: `None` deletes the variable, anything else sets it."""
        spec: dict[str, Any] = {"initContainers": [], "containers": []}
        for name, env in changes.items():
            entries = [
                {"name": k, "$patch": "delete"} if v is None else {"name": k, "value": v}
                for k, v in sorted(env.items())
            ]
            key = "initContainers" if name == "aws-vpc-cni-init" else "containers"
            spec[key].append({"name": name, "env": entries})
        self.request(
            "PATCH",
            f"/apis/apps/v1/namespaces/kube-system/daemonsets/{AWS_NODE}",
            {"spec": {"template": {"spec": {k: v for k, v in spec.items() if v}}}},
            content_type="application/strategic-merge-patch+json",
        )

    def set_aws_node_env(self, values: dict[str, str]) -> None:
        self._patch_env({name: dict(values) for name in CONTAINERS})

    def restore_aws_node_env(self, before: dict[str, dict[str, str | None]], name: str) -> None:
        """Put `name` back as it was in each container: its old value, or absent."""
        self._patch_env(
            {container: {name: before.get(container, {}).get(name)} for container in CONTAINERS}
        )

    def aws_node_rolled_out(self) -> bool:
        return rolled_out(self.aws_node())

    # ------------------------------------------------------------------ nodes and probes

    def nodes(self) -> list[dict[str, Any]]:
        found = self.request("GET", "/api/v1/nodes") or {}
        return list(found.get("items", []))

    def run_probe(self, namespace: str, name: str, node: str, script: str, image: str) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "v6migrate-probe"}},
            "spec": {
                "nodeName": node,
                "restartPolicy": "Never",
                "tolerations": [{"operator": "Exists"}],
                # The Pod Security Standards' `restricted` level, so that the probe runs in any
                # namespace whatever it enforces: a non-root user, no privilege escalation, no
                # capabilities, the runtime's seccomp profile, a read-only root file system.
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "runAsGroup": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "probe",
                        "image": image,
                        "command": ["sh", "-c", script],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True,
                        },
                    }
                ],
            },
        }
        self.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")
        self.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod)

    def probe_result(self, namespace: str, name: str) -> tuple[str, str] | None:
        """(phase, log) once the pod has finished; None while it runs."""
        pod = self.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        if pod is None:
            raise KubeError(f"probe pod {namespace}/{name} vanished")
        phase = pod.get("status", {}).get("phase", "Pending")
        states = [
            c.get("state") or {} for c in pod.get("status", {}).get("containerStatuses") or []
        ]
        for state in states:
            # Kubernetes: a container that cannot start waits for ever; say so at once.
            waiting = state.get("waiting") or {}
            if waiting.get("reason") in CANNOT_START:
                return str(waiting["reason"]), str(waiting.get("message", ""))
        if phase not in ("Succeeded", "Failed"):
            return None
        log = self.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log", raw=True)
        ended = [str((s.get("terminated") or {}).get("message", "")) for s in states]
        return phase, str(log or "") or "\n".join(m for m in ended if m)

    def delete_pod(self, namespace: str, name: str) -> None:
        self.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")

    def create_namespace(self, name: str, labels: dict[str, str]) -> None:
        """Create `name` (an existing one is taken as made by an earlier try)."""
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels}}  # fmt: skip
        try:
            self.request("POST", "/api/v1/namespaces", body)
        except KubeError as error:
            if " 409 " not in str(error):
                raise

    def delete_namespace(self, name: str) -> None:
        self.request("DELETE", f"/api/v1/namespaces/{name}")  # absent (404): already gone


def connect(ctx: Context) -> Kube:
    """A client for the cluster of `ctx`, with tokens from the target account's credentials."""
    cluster = call(
        ctx.clients.eks.describe_cluster, "eks:DescribeCluster", name=ctx.inventory.cluster.name
    )["cluster"]
    state: dict[str, Any] = {"token": "", "at": 0.0}

    def token() -> str:
        if time.monotonic() - state["at"] > TOKEN_SECONDS / 2:
            state["token"] = eks_token(ctx.clients.sts, ctx.inventory.cluster.name)
            state["at"] = time.monotonic()
        return str(state["token"])

    return Kube(
        endpoint=cluster["endpoint"],
        ca_data=cluster.get("certificateAuthority", {}).get("data", ""),
        token=token,
    )


def access_entries(ctx: Context) -> list[str]:
    """Every principal with an access entry on the cluster. ListAccessEntries answers at most
    100 a page (EKS API reference, maxResults), and the role's own entry may be on any page:
    read from the first only, an entry the platform team made would be taken for the run's
    own, and removed after it."""
    pages = ctx.clients.eks.get_paginator("list_access_entries").paginate(
        clusterName=ctx.inventory.cluster.name
    )
    try:
        return [entry for page in pages for entry in page.get("accessEntries", [])]
    except ClientError as error:
        raise translate(error, "eks:ListAccessEntries") from error


@contextmanager
def access(
    ctx: Context, namespaces: tuple[str, ...], record: Any = None, ours_before: bool = False
) -> Iterator[str]:
    """An access entry for the workflow's role: view of the cluster, edit of `namespaces`.

    `record(status, principal)` journals it (`intent` before the call, `removed` after), so a
    rollback can remove an entry a crash left behind, and a retried step knows the entry it
    finds is its own (`ours_before`). An entry that existed before the run is kept.
    """
    eks, cluster = ctx.clients.eks, ctx.inventory.cluster.name
    who = principal(ctx)
    existing = access_entries(ctx)
    # Ours: absent now, or made by an earlier try of this step (journaled, `ours_before`).
    ours = who not in existing or ours_before
    if ours:
        if record:
            record("intent", who)
        try:
            call(
                eks.create_access_entry,
                "eks:CreateAccessEntry",
                ok=("ResourceInUseException",),
                clusterName=cluster,
                principalArn=who,
                tags={"v6migrate:migration": ctx.migration_id},
            )
            call(
                eks.associate_access_policy,
                "eks:AssociateAccessPolicy",
                clusterName=cluster,
                principalArn=who,
                policyArn=policy_arn(ctx, VIEW_POLICY),
                accessScope={"type": "cluster"},
            )
            if namespaces:
                call(
                    eks.associate_access_policy,
                    "eks:AssociateAccessPolicy",
                    clusterName=cluster,
                    principalArn=who,
                    policyArn=policy_arn(ctx, EDIT_POLICY),
                    accessScope={"type": "namespace", "namespaces": list(namespaces)},
                )
        except Exception:
            # The entry may exist though the call failed (a lost answer): leave none behind.
            with suppress(Exception):
                remove_access(ctx, who)
                if record:
                    record("removed", who)
            raise
    try:
        yield who
    finally:
        if ours:
            remove_access(ctx, who)
            if record:
                record("removed", who)


@contextmanager
def cluster_admin(ctx: Context, who: str) -> Iterator[None]:
    """AmazonEKSClusterAdminPolicy on `who`'s access entry for the calls inside only: the one
    EKS access policy that may create or delete a namespace (the others map to Kubernetes'
    view, edit and admin ClusterRoles, which do not write namespaces)."""
    eks, cluster = ctx.clients.eks, ctx.inventory.cluster.name
    admin = policy_arn(ctx, ADMIN_POLICY)
    call(
        eks.associate_access_policy, "eks:AssociateAccessPolicy", clusterName=cluster,
        principalArn=who, policyArn=admin, accessScope={"type": "cluster"},
    )  # fmt: skip
    try:
        yield
    finally:
        call(
            eks.disassociate_access_policy, "eks:DisassociateAccessPolicy",
            ok=("ResourceNotFoundException",), clusterName=cluster, principalArn=who,
            policyArn=admin,
        )  # fmt: skip


def read_facts(
    ctx: Context, may_create: bool, record: Any = None, ours_before: bool = False
) -> KubeFacts | None:
    """Prove that the run can use the cluster's API, with one authorised read of aws-node.

    `may_create`: make a temporary access entry (view only) for the read, journaled through
    `record`; a dry run may not, and then reads only if the role already has an entry (None
    when it has not). An unreachable endpoint is a fact, returned; a refusal is not: a new
    entry takes seconds to be honoured, so KubeUnauthorized reaches the state machine's Retry.
    """
    if not may_create and principal(ctx) not in access_entries(ctx):
        return None
    try:
        with access(ctx, (), record=record, ours_before=ours_before):
            daemonset = connect(ctx).aws_node()
    except KubeUnreachable as error:
        return KubeFacts(reachable=False, error=str(error))
    spec = daemonset.get("spec", {}).get("template", {}).get("spec", {})
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    image = next((c.get("image") for c in containers if c.get("name") == AWS_NODE), None)
    flags = {
        c["name"]: next((e.get("value") for e in c.get("env", []) if e["name"] == V6_EGRESS), None)
        for c in containers
        if c.get("name") in CONTAINERS
    }
    return KubeFacts(reachable=True, aws_node_image=image, v6_egress=flags)


def remove_access(ctx: Context, principal: str) -> None:
    call(
        ctx.clients.eks.delete_access_entry,
        "eks:DeleteAccessEntry",
        ok=("ResourceNotFoundException",),
        clusterName=ctx.inventory.cluster.name,
        principalArn=principal,
    )


__all__ = ["Kube", "access", "connect", "eks_token", "role_arn"]
