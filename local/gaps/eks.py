"""EKS gaps of moto 5.2.5: the cluster's VPC fields, add-ons, node groups that own instances."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse

from local.gaps.timing import CLOCK, SETTLE, settling
from local.gaps.vpc_cni import ADDON_CATALOG, configuration_schema


def _ec2(backend: EKSBackend) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[backend.account_id][backend.region_name]


def _autoscaling(backend: EKSBackend) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[backend.account_id][backend.region_name]


# --------------------------------------------------------------------------- cluster


def cluster_vpc_and_security_group() -> None:
    """DescribeCluster: `resourcesVpcConfig.vpcId` and `clusterSecurityGroupId`.

    EKS API reference, VpcConfigResponse: EKS reports the cluster's VPC and creates a cluster
    security group (`eks-cluster-sg-<name>-<suffix>`, tagged `aws:eks:cluster-name`, all
    egress to 0.0.0.0/0, members allowed to talk to each other). moto reports neither.
    """
    original = EKSBackend.create_cluster
    if getattr(original, "_v6migrate", False):
        return

    def create_cluster(self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        config = dict(cluster.resources_vpc_config or {})
        subnet_ids = config.get("subnetIds") or []
        if subnet_ids and not config.get("vpcId"):
            ec2 = _ec2(self)
            vpc_id = ec2.get_subnet(subnet_ids[0]).vpc_id
            group = ec2.create_security_group(
                name=f"eks-cluster-sg-{cluster.name}-{cluster.arn[-8:].replace('/', '')}",
                description="EKS created security group applied to ENI that is attached to EKS "
                "Control Plane master nodes, as well as any managed workloads.",
                vpc_id=vpc_id,
                tags={
                    "aws:eks:cluster-name": cluster.name,
                    f"kubernetes.io/cluster/{cluster.name}": "owned",
                    "Name": f"eks-cluster-sg-{cluster.name}",
                },
            )
            ec2.authorize_security_group_ingress(
                group_name_or_id=group.id,
                ip_protocol="-1",
                from_port=None,
                to_port=None,
                ip_ranges=[],
                source_groups=[{"GroupId": group.id}],
                vpc_id=vpc_id,
            )
            config.update({"vpcId": vpc_id, "clusterSecurityGroupId": group.id})
            config.setdefault("securityGroupIds", [])
            config.setdefault("endpointPublicAccess", True)
            config.setdefault("endpointPrivateAccess", False)
            cluster.resources_vpc_config = config
        return cluster

    create_cluster._v6migrate = True  # type: ignore[attr-defined]
    EKSBackend.create_cluster = create_cluster  # type: ignore[method-assign]


AUTHENTICATION_MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP", "API")
DEFAULT_VERSION = "1.31"  # EKS API reference, CreateCluster.version: EKS's default (moto: 1.19)


def authentication_mode(backend: EKSBackend, cluster: str) -> str:
    config = backend.clusters[cluster].__dict__.get("access_config") or {}
    return str(config.get("authenticationMode", "CONFIG_MAP"))


def cluster_access_config_and_endpoint() -> None:
    """DescribeCluster: `accessConfig` and the endpoint access settings, with AWS's defaults.

    EKS API reference, CreateAccessConfigRequest: a cluster created through the API, an SDK or
    CloudFormation is in `CONFIG_MAP` authentication mode unless `accessConfig` says otherwise;
    the mode moves only forward (CONFIG_MAP -> API_AND_CONFIG_MAP -> API) through
    UpdateClusterConfig. VpcConfigRequest: `endpointPublicAccess` defaults to true,
    `endpointPrivateAccess` to false, `publicAccessCidrs` to 0.0.0.0/0. moto keeps no
    `accessConfig` and leaves the endpoint fields out.
    """
    create = EKSResponse.create_cluster
    if getattr(create, "_v6migrate", False):
        return

    def create_cluster(self: EKSResponse) -> Any:
        access = self._get_param("accessConfig") or {}
        mode = access.get("authenticationMode", "CONFIG_MAP")
        if mode not in AUTHENTICATION_MODES:
            raise _invalid(f"Unsupported authentication mode: {mode}")
        result = create(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        if not self._get_param("version"):
            cluster.version = DEFAULT_VERSION  # "the default version available in Amazon EKS"
        cluster.__dict__["access_config"] = {
            "authenticationMode": mode,
            "bootstrapClusterCreatorAdminPermissions": access.get(
                "bootstrapClusterCreatorAdminPermissions", True
            ),
        }
        config = dict(cluster.resources_vpc_config or {})
        config.setdefault("endpointPublicAccess", True)
        config.setdefault("endpointPrivateAccess", False)
        if config["endpointPublicAccess"]:
            config.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
        cluster.resources_vpc_config = config
        return result

    create_cluster._v6migrate = True  # type: ignore[attr-defined]
    EKSResponse.create_cluster = create_cluster  # type: ignore[method-assign]

    update = EKSResponse.update_cluster_config

    def update_cluster_config(self: EKSResponse) -> Any:
        access = self._get_param("accessConfig") or {}
        wanted = access.get("authenticationMode")
        if not wanted:
            return update(self)
        name = self._get_param("name")
        current = authentication_mode(self.eks_backend, name)
        if wanted not in AUTHENTICATION_MODES or AUTHENTICATION_MODES.index(
            wanted
        ) < AUTHENTICATION_MODES.index(current):
            raise InvalidRequestException(
                message=f"Unsupported authentication mode update from {current} to {wanted}"
            )
        self.eks_backend.clusters[name].__dict__["access_config"]["authenticationMode"] = wanted
        return ActionResult({"update": {"id": f"access-{name}", "status": "Successful",
                                        "type": "AccessConfigUpdate", "errors": []}})  # fmt: skip

    EKSResponse.update_cluster_config = update_cluster_config  # type: ignore[method-assign]


# --------------------------------------------------------------------------- add-ons


def _addons(backend: EKSBackend, cluster: str) -> dict[str, dict[str, Any]]:
    if cluster not in backend.clusters:
        raise ResourceNotFoundException(
            clusterName=cluster,
            nodegroupName=None,
            fargateProfileName=None,
            addonName=None,
            message=f"No cluster found for name: {cluster}.",
        )
    store: dict[str, dict[str, dict[str, Any]]] = backend.__dict__.setdefault("_v6_addons", {})
    return store.setdefault(cluster, {})


def _addon_not_found(cluster: str, name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        clusterName=cluster,
        nodegroupName=None,
        fargateProfileName=None,
        addonName=name,
        message=f"No addon: {name} found in cluster: {cluster}",
    )


def _invalid(message: str) -> InvalidParameterException:
    return InvalidParameterException(
        clusterName=None, nodegroupName=None, fargateProfileName=None, addonName=None,
        message=message,
    )  # fmt: skip


def validate_configuration(name: str, version: str, values: str) -> None:
    """EKS refuses configurationValues that do not match the version's schema."""
    if not values:
        return
    schema = configuration_schema(name, version)
    try:
        document = json.loads(values)
    except json.JSONDecodeError as error:
        raise _invalid(
            f"ConfigurationValue provided in request is not valid JSON: {error}"
        ) from error
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as error:
        raise _invalid(
            f"ConfigurationValue provided in request is not supported: {error.message}"
        ) from error


def create_addon(
    self: EKSBackend,
    cluster_name: str,
    addon_name: str,
    addon_version: str | None,
    configuration_values: str | None,
    service_account_role_arn: str | None,
    tags: dict[str, str] | None,
) -> dict[str, Any]:
    addons = _addons(self, cluster_name)
    if addon_name in addons:
        # EKS API reference, CreateAddon errors: ResourceInUseException, HTTP 409
        raise ResourceInUseException(
            clusterName=cluster_name, nodegroupName=None, fargateProfileName=None,
            addonName=addon_name, message=f"Addon already exists: {addon_name}",
        )  # fmt: skip
    versions = ADDON_CATALOG.get(addon_name)
    if versions is None:
        raise _invalid(f"Addon {addon_name} specified is not supported")
    version = addon_version or versions[-1]
    if version not in versions:
        raise _invalid(f"Addon version specified is not supported: {version}")
    validate_configuration(addon_name, version, configuration_values or "")
    now = utcnow()
    # EKS API reference, Addon.status: CREATING, then ACTIVE once EKS has applied it
    _CREATED[f"{cluster_name}/{addon_name}"] = CLOCK.now()
    addon = {
        "addonName": addon_name,
        "clusterName": cluster_name,
        "status": "CREATING",
        "addonVersion": version,
        "health": {"issues": []},
        "addonArn": f"arn:aws:eks:{self.region_name}:{self.account_id}:addon/{cluster_name}/"
        f"{addon_name}/{abs(hash((cluster_name, addon_name, now))) % 10**8:08d}",
        "createdAt": now,
        "modifiedAt": now,
        "tags": tags or {},
    }
    if service_account_role_arn:
        addon["serviceAccountRoleArn"] = service_account_role_arn
    if configuration_values:
        addon["configurationValues"] = configuration_values
    addons[addon_name] = addon
    return addon


# When each add-on was created (cluster/name), on the simulated clock
_CREATED: dict[str, float] = {}


def describe_addon(self: EKSBackend, cluster_name: str, addon_name: str) -> dict[str, Any]:
    addon = _addons(self, cluster_name).get(addon_name)
    if addon is None:
        raise _addon_not_found(cluster_name, addon_name)
    created = _CREATED.get(f"{cluster_name}/{addon_name}")
    if addon["status"] == "CREATING" and not settling(created, "addon-creating"):
        addon["status"] = "ACTIVE"
    return addon


def delete_addon(self: EKSBackend, cluster_name: str, addon_name: str) -> dict[str, Any]:
    addons = _addons(self, cluster_name)
    if addon_name not in addons:
        raise _addon_not_found(cluster_name, addon_name)
    addon = addons.pop(addon_name)
    return {**addon, "status": "DELETING"}


def _body(response: EKSResponse) -> dict[str, Any]:
    return json.loads(response.body) if response.body else {}


def _page(items: list[Any], token: str | None, size: int | None) -> tuple[list[Any], str | None]:
    start = int(token) if token else 0
    end = start + (size or 100)
    return items[start:end], (str(end) if end < len(items) else None)


def addons() -> None:
    """EKS add-ons: Create/Describe/List/Delete, DescribeAddonVersions, DescribeAddonConfiguration.

    EKS API reference (Addon, AddonInfo, DescribeAddonConfiguration). moto has none of them.
    The vpc-cni schema has `env` and `init.env`, with ENABLE_V6_EGRESS from v1.13.0 on.
    """
    if hasattr(EKSResponse, "create_addon"):
        return
    eks_urls.url_paths.update(
        {
            "{0}/clusters/(?P<name>[^/]+)/addons$": EKSResponse.dispatch,
            "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$": EKSResponse.dispatch,
            "{0}/addons/supported-versions$": EKSResponse.dispatch,
            "{0}/addons/configuration-schemas$": EKSResponse.dispatch,
        }
    )
    EKSBackend.create_addon = create_addon  # type: ignore[attr-defined]
    EKSBackend.describe_addon = describe_addon  # type: ignore[attr-defined]
    EKSBackend.delete_addon = delete_addon  # type: ignore[attr-defined]

    def r_create_addon(self: EKSResponse) -> ActionResult:
        body = _body(self)
        addon = self.eks_backend.create_addon(  # type: ignore[attr-defined]
            cluster_name=self._get_param("name"),
            addon_name=body.get("addonName"),
            addon_version=body.get("addonVersion"),
            configuration_values=body.get("configurationValues"),
            service_account_role_arn=body.get("serviceAccountRoleArn"),
            tags=body.get("tags"),
        )
        return ActionResult({"addon": addon})

    def r_describe_addon(self: EKSResponse) -> ActionResult:
        addon = self.eks_backend.describe_addon(  # type: ignore[attr-defined]
            self._get_param("name"), self._get_param("addonName")
        )
        return ActionResult({"addon": addon})

    def r_delete_addon(self: EKSResponse) -> ActionResult:
        addon = self.eks_backend.delete_addon(  # type: ignore[attr-defined]
            self._get_param("name"), self._get_param("addonName")
        )
        return ActionResult({"addon": addon})

    def r_list_addons(self: EKSResponse) -> ActionResult:
        names = sorted(_addons(self.eks_backend, self._get_param("name")))
        size = self._get_param("maxResults")
        page, token = _page(names, self._get_param("nextToken"), int(size) if size else None)
        result: dict[str, Any] = {"addons": page}
        if token:
            result["nextToken"] = token
        return ActionResult(result)

    def r_describe_addon_versions(self: EKSResponse) -> ActionResult:
        wanted = self._get_param("addonName")
        kubernetes_version = self._get_param("kubernetesVersion")
        infos = []
        for name, versions in sorted(ADDON_CATALOG.items()):
            if wanted and name != wanted:
                continue
            infos.append(
                {
                    "addonName": name,
                    "type": "networking" if name == "vpc-cni" else "other",
                    "owner": "aws",
                    "addonVersions": [
                        {
                            "addonVersion": version,
                            "architecture": ["amd64", "arm64"],
                            "compatibilities": [
                                {
                                    "clusterVersion": kubernetes_version or "1.31",
                                    "platformVersions": ["*"],
                                    "defaultVersion": version == versions[-1],
                                }
                            ],
                            "requiresConfiguration": False,
                        }
                        for version in reversed(versions)
                    ],
                }
            )
        return ActionResult({"addons": infos})

    def r_describe_addon_configuration(self: EKSResponse) -> ActionResult:
        name = self._get_param("addonName")
        version = self._get_param("addonVersion")
        if version not in ADDON_CATALOG.get(name, ()):
            raise _invalid(f"Addon version specified is not supported: {name} {version}")
        return ActionResult(
            {
                "addonName": name,
                "addonVersion": version,
                "configurationSchema": json.dumps(configuration_schema(name, version)),
            }
        )

    EKSResponse.create_addon = r_create_addon  # type: ignore[attr-defined]
    EKSResponse.describe_addon = r_describe_addon  # type: ignore[attr-defined]
    EKSResponse.delete_addon = r_delete_addon  # type: ignore[attr-defined]
    EKSResponse.list_addons = r_list_addons  # type: ignore[attr-defined]
    EKSResponse.describe_addon_versions = r_describe_addon_versions  # type: ignore[attr-defined]
    EKSResponse.describe_addon_configuration = r_describe_addon_configuration  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- node groups


# Amazon EKS optimized AMI releases per Kubernetes version, oldest first (the form of the EKS
# AMI release notes: <kubernetes>.<patch>-<date>). A managed group without a custom AMI runs one;
# CreateNodegroup and UpdateNodegroupVersion without `releaseVersion` take the latest (EKS API
# reference, UpdateNodegroupVersion: "By default, the latest available AMI version for the node
# group's Kubernetes version is used"), and a group never goes back to an older one.
AMI_RELEASES = {
    version: (f"{version}.2-20260915", f"{version}.4-20261112")
    for version in ("1.29", "1.30", "1.31", "1.32")
}


def release_image(release: str) -> str:
    """The AMI of an EKS optimized release (stable per release, like the SSM parameter)."""
    import hashlib

    return "ami-0" + hashlib.sha256(release.encode()).hexdigest()[:16]


def _release(version: str, wanted: str | None, current: str | None = None) -> str:
    releases = AMI_RELEASES.get(version, ())
    if not releases:
        raise _invalid(f"Kubernetes version {version} is not supported by managed node groups")
    release = wanted or releases[-1]
    if release not in releases:
        raise _invalid(f"Requested release version {release} is not valid for version {version}")
    if current in releases and releases.index(release) < releases.index(current):
        raise _invalid(f"You cannot roll back a node group to an earlier AMI version ({release})")
    return release


def _template_data(backend: EKSBackend, template_id: str, version: str) -> dict[str, Any]:
    found = _ec2(backend).describe_launch_templates(template_ids=[template_id])[0]
    number = found.default_version_number if version == "$Default" else int(version)
    return dict(next(v for v in found.versions if v.number == number).data or {})


def eks_launch_template(
    backend: EKSBackend, nodegroup: Any, release: str, base: dict[str, Any]
) -> dict[str, str]:
    """The launch template EKS runs the group's instances from: a copy of the user's data (or
    its own defaults) with the release's AMI. EKS user guide, launch templates: without an
    AMI in it, EKS adds the optimized AMI to a copy of the group's launch template."""
    ec2 = _ec2(backend)
    data = {**base, "ImageId": release_image(release)}
    own_id = nodegroup.__dict__.get("_v6_own_template")
    if own_id is None:
        own = ec2.create_launch_template(
            name=f"eks-{nodegroup.uuid}", description="EKS managed node group launch template",
            template_data=data, tag_spec={},
        )  # fmt: skip
        nodegroup.__dict__["_v6_own_template"] = own.id
        return {"LaunchTemplateId": own.id, "Version": "1"}
    own = ec2.describe_launch_templates(template_ids=[own_id])[0]
    version = own.create_version(data, f"release {release}")
    return {"LaunchTemplateId": own_id, "Version": str(version.number)}


def nodegroup_autoscaling_group() -> None:
    """A managed node group owns an Auto Scaling group with running instances.

    EKS API reference, NodegroupResources.autoScalingGroups; instances carry the
    `eks:nodegroup-name` and `eks:cluster-name` tags. Without a launch template EKS makes one
    of its own. moto only records the group: no Auto Scaling group, no instances.
    """
    original = EKSBackend.create_nodegroup
    if getattr(original, "_v6migrate", False):
        return

    def create_nodegroup(self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
        ec2 = _ec2(self)
        cluster = self.clusters[kwargs["cluster_name"]]
        kwargs["version"] = kwargs.get("version") or cluster.version
        template: dict[str, str] = kwargs.get("launch_template") or {}
        user_data: dict[str, Any] = {}
        if template.get("id"):
            version = str(template.get("version") or "$Default")
            if version == "$Default":
                found = ec2.describe_launch_templates(template_ids=[template["id"]])[0]
                version = str(found.default_version_number)
            user_data = _template_data(self, template["id"], version)
        custom_ami = user_data.get("ImageId")
        if custom_ami:
            # EKS API reference, Nodegroup.releaseVersion: with a custom AMI, the AMI's id;
            # asking for a release as well fails.
            if kwargs.get("release_version"):
                raise _invalid("You cannot specify releaseVersion with a custom AMI")
            kwargs["release_version"] = custom_ami
        else:
            kwargs["release_version"] = _release(kwargs["version"], kwargs.get("release_version"))
        nodegroup = original(self, *args, **kwargs)
        template = nodegroup.launch_template or {}
        if custom_ami:
            template["version"] = version
            asg_template = {"LaunchTemplateId": template["id"], "Version": version}
        else:
            if template and template.get("id"):
                template["version"] = version
            else:
                user_data = {"InstanceType": (nodegroup.instance_types or ["t3.medium"])[0]}
            asg_template = eks_launch_template(
                self, nodegroup, nodegroup.release_version, user_data
            )
        name = f"eks-{nodegroup.nodegroup_name}-{nodegroup.uuid}"
        scaling = nodegroup.scaling_config or {}
        desired = int(scaling.get("desiredSize", 2))
        tags = {
            "eks:nodegroup-name": nodegroup.nodegroup_name,
            "eks:cluster-name": nodegroup.cluster_name,
            f"kubernetes.io/cluster/{nodegroup.cluster_name}": "owned",
        }
        _autoscaling(self).create_auto_scaling_group(
            name=name,
            availability_zones=[],
            desired_capacity=desired,
            max_size=int(scaling.get("maxSize", max(desired, 1))),
            min_size=int(scaling.get("minSize", 0)),
            launch_config_name=None,
            launch_template=asg_template,
            vpc_zone_identifier=",".join(nodegroup.subnets),
            default_cooldown=None,
            health_check_period=None,
            health_check_type=None,
            load_balancers=[],
            target_group_arns=[],
            placement_group=None,
            termination_policies=[],
            tags=[
                {
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                    "Key": key,
                    "Value": value,
                    "PropagateAtLaunch": True,
                }
                for key, value in tags.items()
            ],
        )
        nodegroup.resources = {**nodegroup.resources, "autoScalingGroups": [{"name": name}]}
        # EKS API reference, Nodegroup.status: CREATING until its nodes have joined (read
        # back as ACTIVE after that by `rollouts._progress_on_describe`)
        nodegroup._v6_created = CLOCK.now()  # type: ignore[attr-defined]
        if SETTLE.of("nodegroup-creating") > 0:
            nodegroup.status = "CREATING"
        return nodegroup

    create_nodegroup._v6migrate = True  # type: ignore[attr-defined]
    EKSBackend.create_nodegroup = create_nodegroup  # type: ignore[method-assign]
