"""What moto 5.2.5 lacks or gets wrong, supplied here so the embedded AWS behaves like AWS.

One module per service; each gap is one function named for it, with the AWS behaviour it
reproduces and where that is documented. They extend moto's own seams in place (URL maps,
response classes, backend methods), so they serve boto3 in-process (`mock_aws`), the threaded
server, and any other program pointed at it, alike. To retire a gap when moto gains it, delete
its function and its line in `install()`; its test in tests/unit/test_gaps.py says what to
check.

`install()` is idempotent and must run before the first request reaches the server (the server
caches each service's URL map on first use).
"""

from __future__ import annotations

import os
import threading

from local.gaps import (
    access,
    cognito,
    dynamodb,
    ec2,
    ec2_ipv6,
    eks,
    events,
    ipam,
    malformed,
    networkmanager,
    paging,
    privatelink,
    requester_managed,
    rollouts,
    sqs,
    stepfunctions,
)

_lock = threading.Lock()
_installed = False


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        ec2.ipv6_on_network_interface_creation()
        ec2.peering_ipv6_and_filters()
        ec2.launch_template_source_version()
        ec2_ipv6.association_transitions()
        ec2_ipv6.subnet_block_validation()
        ec2_ipv6.auto_assign_needs_a_block()
        ec2_ipv6.cidr_in_use_refusals()
        ec2_ipv6.route_already_exists()
        ec2_ipv6.routes_to_gone_gateways_are_blackholes()
        ec2_ipv6.tgw_attachment_modifying()
        ec2_ipv6.nacl_icmp_needs_type_code()
        ec2_ipv6.default_nacl_ipv6_rules()
        requester_managed.requester_managed_interfaces()
        eks.cluster_vpc_and_security_group()
        eks.cluster_access_config_and_endpoint()
        eks.addons()
        eks.nodegroup_autoscaling_group()
        rollouts.eks_updates()
        rollouts.instance_refresh()
        access.access_entries()
        access.presigned_identity()
        dynamodb.conditional_writes_are_atomic()
        access.presigned_signatures_checked()
        stepfunctions.history_in_either_order()
        stepfunctions.executions_without_a_name_get_one()
        stepfunctions.sfn_integration_speaks_pascal_case()
        stepfunctions.map_iterations_fail_with_states_errors()
        stepfunctions.map_runs_fail_past_their_tolerance()
        stepfunctions.map_runs_follow_their_current_concurrency()
        stepfunctions.sdk_integration_answers_json()
        stepfunctions.definite_paths_select_one_value()
        stepfunctions.history_ends_at_its_quota()
        stepfunctions.states_all_leaves_terminal_errors()
        events.lambda_and_sns_targets()
        sqs.messages_name_their_sender()
        cognito.id_token_names_the_users_identities()
        cognito.identities_cannot_be_written()
        from local.cluster import cluster_endpoint, node_launch_clock

        cluster_endpoint()
        node_launch_clock()
        networkmanager.vpc_attachments()
        networkmanager.vpc_attachment_updates()
        privatelink.ip_address_types()
        ipam.ipv6_pools()
        from local import shared_models

        shared_models.share()
        paging.pages_as_aws()  # last: it wraps the final response methods
        malformed.aws_shaped_errors()
        malformed.unknown_paths()
        # moto loads its catalogue of public AMIs (some 10,000 images) into every EC2 backend it
        # makes, one per account and Region: 0.3 s each. The workflow never reads public images,
        # and the estates launch from image ids of their own (`gaps.eks.release_image`).
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        _installed = True
