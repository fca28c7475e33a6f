"""Mutation testing of the safety core with cosmic-ray: how many deliberate bugs the tests kill.

Each module below is mutated one change at a time (cosmic-ray's operators: comparisons,
arithmetic, boolean and number replacements, removed decorators, ...) in a clean clone of HEAD,
and the tests that cover it run against each mutant; a mutant the tests do not fail survived.
Of a module's target tests, a mutant runs those that execute a line it changed (a coverage run
of the target, one context per test, says which), in the target's order: a test that never
reaches the mutated line cannot fail because of it.
The clone's own source comes first on the path, so the project's installed copy is never
mutated, and the working tree is never touched.

    .venv/bin/python bench/mutation.py [--modules cni,cidr] [--timeout 300] [--jobs 2]

The last line: `mutation: mutants=<N> killed=<K> survived=<S> score=<K/N>`; survivors are
listed above it (file, line, operator) to be killed or explained. A mutant that makes the
tests time out or crash counts as killed (cosmic-ray's "incompetent"); one inside a type
annotation is equivalent (never evaluated) and left out of the score. Where only part of a
module is safety core (the planner's blockers, compensation in apply, the EKS token in kube) only
the functions named in its scope are mutated, and the rest is neither run nor counted. By
default every module runs; `apply`, `validate` and `kube` run moto-backed tests (up to two
minutes a surviving mutant, an hour or more a module), so `--jobs 2` mutates two modules side by
side, and `--modules cni,cidr,journal,plan` picks the ones whose tests take seconds.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "layers/common/v6migrate"


class Target(NamedTuple):
    """The tests that cover a module's safety rules (those a reviewer would run for it) and,
    where only part of the module is safety core, the functions mutated (None: all of it)."""

    tests: tuple[str, ...]
    scope: tuple[str, ...] | None = None


TARGETS: dict[str, Target] = {
    "cni": Target(("tests/unit/test_cni.py", "tests/unit/test_plan.py")),
    "cidr": Target(("tests/unit/test_cidr.py", "tests/unit/test_plan.py")),
    "journal": Target(("tests/unit/test_journal.py",)),
    # who may decide an approval, and that it is decided once (issue 11): the decision itself
    "approval": Target(
        ("tests/unit/test_approval.py",),
        (
            "plan_hash",
            "what_changed",
            "_principal",
            "is_approver",
            "is_requester",
            "decide",
            "_add",
            "_settle",
        ),
    ),
    # a Slack button's callback: the signature, its window, single use, what was pressed
    "chatops": Target(
        ("tests/unit/test_chatops.py",), ("signature", "verify", "first_use", "action")
    ),
    # a wave's ramp, its gate, its evidence (issue 11, item 5)
    "waves": Target(
        ("tests/unit/test_waverun.py", "tests/unit/test_waves.py"),
        ("ramp_level", "gate", "report"),
    ),
    "waverun": Target(("tests/unit/test_waverun.py",), ("ramp",)),
    # the planner's blockers: what stops a plan before anything changes
    "plan": Target(
        ("tests/unit/test_plan.py",),
        (
            "_blocker",
            "_cluster_findings",
            "_cni_findings",
            "_out_of_band_flag",
            "_appliance_findings",
            "_dns64_findings",
            "_ungrouped_node_findings",
            "_blackholes",
            "_result",
        ),
    ),
    # compensation's order and its choice of what to revert, keep or wait for
    # (every test that calls compensate, the quickest first: a killed mutant stops at its
    # first failure, and a survivor runs them all)
    "apply": Target(
        (
            *(
                f"tests/unit/test_apply.py::test_{name}"
                for name in (
                    "compensation_never_touches_what_existed_before",
                    "compensation_restores_the_estate_and_keeps_the_vpc_block",
                    "compensation_releases_the_block_when_the_request_opts_in",
                    "a_finished_compensation_counts_one_rollback_for_the_dashboard",
                    "compensation_reverts_an_intent_whose_effect_is_in_aws",
                    "rollback_leaves_foreign_interfaces_alone_and_keeps_the_64s_they_use",
                    "compensation_removes_an_access_entry_a_dead_validation_left",
                    "compensation_keeps_an_access_entry_the_validation_removed_or_never_made",
                    "blocks_a_rollback_released_still_listed_by_ec2_are_planned_again",
                    "load_balancers_and_privatelink_are_applied_and_reverted_when_asked",
                )
            ),
            "tests/unit/test_validate.py::test_a_self_managed_cni_is_patched_in_both_containers_and_restored",
            "tests/unit/test_validate.py::test_rollback_deletes_the_probe_namespace_a_dead_validation_left",
            # seen_by_aws decides, for every approved change, whether validation asks AWS for it
            "tests/unit/test_validate.py::test_validation_before_the_stages_fails_on_the_aws_checks",
            *(
                f"tests/unit/test_apply.py::test_{name}"
                for name in (
                    "compensation_restores_the_cni_configuration_exactly_after_polling",
                    "compensation_waits_for_an_add_on_update_still_running_then_restores_it",
                    "compensation_reports_every_rollout_it_finds_part_way",
                    "rolled_nodes_are_kept_on_rollback_by_default",
                    "rolled_nodes_are_cycled_back_when_the_request_asks",
                    "compensation_waits_for_a_rollout_whose_answer_was_lost",
                )
            ),
        ),
        ("compensate", "_ours", "_waiting", "seen_by_aws"),
    ),
    # what validation decides (every node's IPv6, aws-node, the probes' answers), with the
    # tests on fakes first (seconds) and the three on a migrated estate last
    "validate": Target(
        tuple(
            f"tests/unit/test_validate.py::test_{name}"
            for name in (
                "egress_passes_only_from_the_nodes_own_ipv6_address",
                "validation_waits_for_every_probe_pod_to_finish",
                "the_vpc_block_passes_only_once_associated",
                "the_pod_check_names_the_pods_ula_address_and_the_egress_check_the_source",
                "a_failed_download_is_reported_with_wgets_own_words",
                "aws_node_passes_only_with_at_least_one_pod_scheduled",
                "a_subnet_passes_once_its_64_is_associated_and_auto_assign_on",
                "only_an_exclude_request_leaves_nodes_outside_groups_out",
                "fargate_nodes_are_listed_as_left_out_and_pass",
                "validation_fails_while_aws_node_is_down_on_a_node",
                "validation_fails_while_aws_node_still_rolls_out",
                "a_cluster_that_lists_no_node_fails_validation",
                "an_estate_without_nodes_fails_the_aws_node_check",
                "aws_node_is_rolled_out_once_its_new_template_runs_everywhere",
                "validation_before_the_stages_fails_on_the_aws_checks",
                "a_probe_that_cannot_run_fails_validation_at_once_saying_why",
                "a_migrated_cluster_passes_every_check_and_the_access_entry_goes",
                "a_node_without_ipv6_fails_validation_and_is_named",
                "nodes_outside_groups_left_out_by_request_are_listed_not_probed",
            )
        ),
        ("_aws_checks", "_excluded", "source_ip_like", "_cluster_checks"),
    ),
    # the EKS token and who it names
    "kube": Target(
        (
            "tests/unit/test_apply.py::test_an_eks_token_is_a_presigned_get_caller_identity_signing_the_cluster",
            "tests/unit/test_real_cluster.py::test_an_access_entry_names_an_existing_principal_and_a_role_keeps_its_path",
            "tests/unit/test_real_cluster.py::test_a_caller_that_is_no_role_session_is_its_own_principal",
            "tests/unit/test_validate.py",
            "-k",
            "token or refuses or access_entry or principal",
        ),
        ("eks_token", "role_arn", "principal"),
    ),
}
# Survivors reviewed by hand and found equivalent: no input the code can receive tells them
# apart. (module, operator, a fragment of the mutated line, why.) Left out of the score and
# listed with their reason; anything else that survives is a gap in the tests.
EQUIVALENT: tuple[tuple[str, str, str, str], ...] = (
    ("approval", "ReplaceTrueWithFalse", "sort_keys=True, separators",
     "the dumped dicts come from models whose field order is fixed, so the hash is as stable "
     "without sorting; sorting only guards a future hand-made dict"),
    ("approval", "ReplaceComparisonOperator_Eq_LtE", 'if kind == "assumed-role":',
     "every principal kind an ARN can name (role, user, federated-user) sorts after "
     "assumed-role, so <= holds for it alone, as == does"),
    ("approval", "NumberReplacer", 'return account, kind, rest.rsplit("/", 1)[-1]',
     "any maxsplit of rsplit leaves the same last element, the principal's name"),
    ("approval", "ReplaceComparisonOperator_Eq_LtE", 'if decision == "approve" and caller in',
     "a decision is approve or reject (a Literal, validated): <= holds for approve alone"),
    ("approval", "ReplaceComparisonOperator_Eq_GtE", 'if decision == "reject":',
     "a decision is approve or reject (a Literal, validated): >= holds for reject alone"),
    ("approval", "NumberReplacer", 'parts = arn.split(":", 5)',
     "an IAM principal's or STS session's ARN has no colon in its resource part: any maxsplit "
     "from 5 up gives the same parts"),
    ("cidr", "ReplaceBinaryOperator_Add_", "base = int(network.network_address) + (index << 64)",
     "+ on a block's network address (host bits zero, strict) and an index below its capacity "
     "touches disjoint bits: | and ^ give the same sum"),
    ("cidr", "ReplaceBinaryOperator_Sub_", "return 1 << (64 - prefix_length)",
     "64 % p == 64 - p for every p in 33..64, and a VPC's IPv6 block is far longer than /32 "
     "(an Amazon-provided one is a /56: EC2 API reference, AmazonProvidedIpv6CidrBlock)"),
    ("cidr", "ReplaceBinaryOperator_Sub_", "- int(network.network_address)) >> 64",
     "the child lies inside the block: its address minus the block's equals its xor with it, "
     "and its remainder by it (the block's address is far larger than any offset)"),
    ("cidr", "NumberReplacer", "key=lambda item: (_ipv4_order(item[1]), item[0])",
     "the tie-breaker by subnet id only orders subnets with the same IPv4 network, which a "
     "VPC cannot have"),
    ("cidr", "ReplaceFalseWithTrue", "ipaddress.IPv4Network(cidr, strict=False)",
     "an IPv4 subnet CIDR from EC2 never has host bits set"),
    ("cni", "ReplaceTrueWithFalse", "json.dumps(merged, sort_keys=True)",
     "sort_keys orders the configuration's keys; EKS reads the JSON, whose meaning has no order"),
    ("cni", "NumberReplacer", "V6_EGRESS_MIN = (1, 13, 0)",
     "the patch number -1 in place of 0: no release has a negative patch, so (1, 13, -1) and "
     "(1, 13, 0) admit the same versions"),
    ("journal", "NumberReplacer", "zlib.compress(plan.model_dump_json().encode(), level=6)",
     "the compression level changes the stored size, never what decompresses"),
    ("journal", "ReplaceTrueWithFalse", "json.dumps(",
     "sort_keys only orders the stored JSON's keys; it is read back into the same dict"),
    # A comparison with a Literal field's value, where every other value the Literal allows
    # sorts on one side of it: the mutated order test picks out the same value alone.
    ("plan", "ReplaceComparisonOperator_Eq_GtE", 'cluster.ip_family == "ipv6"',
     "ip_family is 'ipv4' or 'ipv6': only 'ipv6' is >= 'ipv6'"),
    ("plan", "ReplaceComparisonOperator_Eq_GtE", 'authentication_mode == "CONFIG_MAP"',
     "'API' and 'API_AND_CONFIG_MAP', the other modes, sort before 'CONFIG_MAP'"),
    ("plan", "ReplaceComparisonOperator_Eq_GtE", 'resolve_conflicts == "PRESERVE"',
     "'NONE' and 'OVERWRITE', the other choices, sort before 'PRESERVE'"),
    ("plan", "ReplaceComparisonOperator_Eq_LtE", 'nodes_outside_groups == "block"',
     "'exclude' and 'validate', the other choices, sort after 'block'"),
    ("plan", "ReplaceComparisonOperator_Eq_GtE", 'nodes_outside_groups == "validate"',
     "'block' and 'exclude', the other choices, sort before 'validate'"),
    ("plan", "ReplaceComparisonOperator_NotEq_Gt", 'f.severity != "blocker"',
     "severity is 'blocker' or 'warning', and 'warning' sorts after 'blocker'"),
    ("plan", "ReplaceComparisonOperator_NotEq_Gt", 'cluster.status != "ACTIVE"',
     "every other status EKS reports (CREATING, DELETING, FAILED, UPDATING, PENDING: EKS API "
     "reference, Cluster) sorts after ACTIVE"),
    # Identity instead of equality with a Literal field: pydantic validates the field to the
    # Literal's own str object, even from JSON (test_an_inventory_that_arrives_as_json_... kills
    # the same mutant on a plain str field, cluster.status).
    *(("plan", kind, fragment, "a Literal field holds the Literal's own object after "
       "validation, so `is` agrees with `==` on every value it can hold")
      for kind, fragment in (
          ("ReplaceComparisonOperator_Eq_Is", 'cluster.ip_family == "ipv6"'),
          ("ReplaceComparisonOperator_Eq_Is", 'authentication_mode == "CONFIG_MAP"'),
          ("ReplaceComparisonOperator_Eq_Is", 'resolve_conflicts == "PRESERVE"'),
          ("ReplaceComparisonOperator_Eq_Is", "nodes_outside_groups == "),
          ("ReplaceComparisonOperator_NotEq_IsNot", 'f.severity != "blocker"'),
      )),
    ("kube", "ReplaceComparisonOperator_Eq_", "if len(parts) == 6 and",
     "a caller ARN from GetCallerIdentity always has six ':'-separated parts (a role session "
     "name holds no ':', IAM API reference, RoleSessionName), so <= and >= pick the same ARNs"),
    ("validate", "ReplaceComparisonOperator_NotEq_IsNot", 'nodes_outside_groups != "exclude"',
     "a Literal field holds the Literal's own object after validation, so `is not` agrees with "
     "`!=` on every value it can hold"),
    ("validate", "NumberReplacer", 'status.get("desiredNumberScheduled", 0)',
     "accepted: a DaemonSet status without desiredNumberScheduled is one its controller has "
     "not written, so observedGeneration is absent too and kube.rolled_out fails the check "
     "whatever the default (only the detail's count differs)"),
    ("validate", "ReplaceComparisonOperator_Gt_NotEq", "ok=desired > 0 and through",
     "a DaemonSet's desiredNumberScheduled is never negative: > 0 and != 0 agree"),
    ("validate", "ReplaceComparisonOperator_Eq_Is", "return len(results) == len(pods)",
     "accepted: CPython keeps one object per int up to 256 and the run probes one pod per node "
     "group (EKS allows 30 managed node groups per cluster by default); beyond 256 groups the "
     "wait would time out, a TransientError, never a wrong verdict"),
    # Numbers and comparisons that shape a detail's text only, never a check's verdict
    *(("validate", kind, fragment, "accepted: it changes a detail's wording (how many ids it "
       "lists, a count a failed check prints, the phase it names), never whether a check passes")
      for kind, fragment in (
          ("NumberReplacer", "pending[:20]"),
          ("NumberReplacer", 'status.get("numberAvailable", 0)'),
          ("NumberReplacer", 'status.get("updatedNumberScheduled", 0)'),
          ("ReplaceComparisonOperator_Eq_", 'why = "" if phase == "Succeeded"'),
          ("ReplaceUnaryOperator_USub_Not", "lines[-1] if lines else"),
          ("NumberReplacer", "lines[-1] if lines else"),
          ("ReplaceOrWithAnd", 'configuration_values or "(no configurationValues)"'),
          ("ReplaceOrWithAnd", '", ".join(bad_subnets) or'),
          ("ReplaceOrWithAnd", "n.nodegroup or 'no node group'"),
          ("AddNot", '" (its rollout is not through)"'),
          ("ReplaceOrWithAnd", '", ".join(pending[:20]) or'),
      )),
    ("validate", "ReplaceComparisonOperator_Eq_GtE", "return len(results) == len(pods)",
     "results only ever holds pods' names, so it is never longer than pods: >= is =="),
    ("validate", "ReplaceComparisonOperator_Eq_LtE", 'block.state == "associated"',
     "a CIDR block's state is associating, associated, disassociating, disassociated, failing "
     "or failed (EC2 API reference, VpcCidrBlockState, SubnetCidrBlockState): only "
     "'associated' is <= 'associated'"),
    ("validate", "NumberReplacer", "hexdigest()[:8]",
     "the probe pods' names need only differ from each other inside the run's own namespace "
     "(their index does that); any length of the migration's hash does"),
    # Identity with a journal entry's status, a Literal read back through pydantic
    *(("apply", "ReplaceComparisonOperator_Eq_Is", fragment, "a Literal field holds the "
       "Literal's own object after validation (the journal's entries are read back through "
       "pydantic), so `is` agrees with `==` on every value it can hold")
      for fragment in ('return entry.status == "intent" and', 'if entry.status == "applied"',
                       'if entry.status == "reverted"',
                       'isinstance(change, RollNodegroup) and entry.status == "intent"',
                       'isinstance(change, EnableCniIpv6Egress) and entry.status == "intent"')),
    ("apply", "ReplaceComparisonOperator_Eq_GtE",
     'isinstance(change, EnableCniIpv6Egress) and entry.status == "intent"',
     "only 'reverted' sorts after 'intent', and a reverted entry is counted and passed over "
     "(`continue`) above this line"),
    ("apply", "ReplaceComparisonOperator_Eq_LtE",
     'isinstance(change, EnableCniIpv6Egress) and entry.status == "intent"',
     "accepted: it lets an applied or in-place CNI entry ask too whether an add-on update "
     "runs. An applied one's update has succeeded, so it is at rest and the estate is read once "
     "more; an in-place one is never reverted, and waits only while some add-on update still "
     "runs, which any later revert of the add-on would wait for anyway (EKS refuses a second "
     "update): it changes when compensation goes on, never what it reverts or keeps"),
    *(("apply", kind, 'isinstance(e.change, RollNodegroup) and e.status == "intent"',
       "accepted: it adds finished rollouts (applied, in place or reverted) to those compensation "
       "waits on before the first unfinished one; AWS reports them at rest unless a rollout "
       "of that group is live (a recycle, or someone else's), which the run would wait out "
       "anyway: it changes when compensation goes on, never what it reverts or keeps")
      for kind in ("ReplaceComparisonOperator_Eq_LtE", "ReplaceComparisonOperator_Eq_GtE",
                   "ReplaceComparisonOperator_Eq_Is")),
    ("apply", "ReplaceAndWithOr", 'isinstance(e.change, RollNodegroup) and e.status == "intent"',
     "accepted: stages run in order and one ends only once each of its changes is applied, and "
     "a rollout is the nodes stage's only kind of change, so while a rollout is `intent` every "
     "other `intent` entry is a rollout too: `or` adds only finished rollouts (as above)"),
    ("apply", "ReplaceComparisonOperator_Eq_LtE", 'if entry.status == "applied"',
     "an entry's status is 'applied', 'in-place', 'intent' or 'reverted': only 'applied' is "
     "<= 'applied'"),
    ("apply", "ReplaceComparisonOperator_Eq_GtE", 'return entry.status == "intent" and',
     "only 'reverted' sorts after 'intent', and compensate counts a reverted entry and moves "
     "on (`continue`) before it asks `_ours`, its only caller"),
    ("apply", "ReplaceComparisonOperator_Eq_GtE",
     'isinstance(change, RollNodegroup) and entry.status == "intent"',
     "only 'reverted' sorts after 'intent', and a reverted entry is counted and passed over "
     "(`continue`) just above this line"),
    *(("apply", kind, fragment, "accepted: the estate is read again more often than needed "
       "(each network entry, or the first entry too); a fresher read changes which calls are "
       "made to read, never what is reverted or kept")
      for kind, fragment in (
          ("ReplaceAndWithOr", "if stale and entry.change.stage in"),
          ("ReplaceFalseWithTrue", "stale = False"),
      )),
    ("apply", "ReplaceTrueWithFalse", "settled = True",
     "accepted: every later unfinished rollout asks again whether the started ones still roll "
     "and reads the estate again; all were at rest a moment before, so it costs reads, and "
     "if one rolls again (someone else's rollout) waiting for it is the right answer anyway"),
    ("apply", "ReplaceComparisonOperator_Eq_LtE",
     'isinstance(change, RollNodegroup) and entry.status == "intent"',
     "accepted: it lets applied rollouts in too ('applied' <= 'intent'); one is applied only "
     "once every node it launched has IPv6 and none it replaced is left, so part_way finds "
     "it at rest and whole, and it is reverted or kept as before; what changes is one more "
     "read of the estate"),
    ("apply", "ReplaceAndWithOr",
     'isinstance(change, RollNodegroup) and entry.status == "intent"',
     "accepted: stages run in order, so an `intent` entry of another kind comes only from a "
     "journal with no rollout started; it then waits on no rollout, reads the estate once "
     "more, and part_way names no group for a change that is not a rollout"),
    ("apply", "ReplaceContinueWithBreak", "continue  # the /56 stays",
     "accepted: the VPC's block is the vpc stage's first change (its /64s are carved from it) "
     "and compensation goes stage by stage, vpc last, newest first, so the /56 is the last "
     "entry it reaches: break and continue both end the loop there"),
    ("apply", "ReplaceUnaryOperator_USub_Invert", "-e.seq))",
     "~seq is -seq - 1: the same order of the journal's sequence numbers"),
    ("apply", "ReplaceComparisonOperator_Eq_GtE", 'if entry.status == "reverted"',
     "an entry's status is 'applied', 'in-place', 'intent' or 'reverted': only 'reverted' is "
     ">= 'reverted'"),
    ("plan", "ReplaceComparisonOperator_NotEq_Lt", 'if route.state != "blackhole"',
     "a route's state is 'active' or 'blackhole' (a Literal): only 'active' sorts before "
     "'blackhole', so < picks out the same routes as !="),
    ("plan", "ReplaceComparisonOperator_NotEq_IsNot", 'if route.state != "blackhole"',
     "a Literal field holds the Literal's own object after validation, so `is not` agrees with "
     "`!=` on every value it can hold"),
    ("plan", "ReplaceOrWithAnd", 'f.resource or ""',
     "findings of one code are made in their resources' order already (the planner walks "
     "what it reads sorted: test_plan_is_deterministic_whatever_the_order_of_discovery), so "
     "the key's last part never breaks a tie; and one code's findings all name a resource or "
     "none, so None never meets a str"),
)  # fmt: skip


SLOW = ("apply", "validate", "kube")  # moto-backed tests


def _reviewed(module: str, operator: str, line: str) -> str | None:
    """The reason a survivor is equivalent or accepted: `kind` names one operator, or every
    operator of a family when it ends with `_` (`ReplaceComparisonOperator_Eq_`)."""
    for where, kind, fragment, why in EQUIVALENT:
        same = operator.startswith(kind) if kind.endswith("_") else operator == kind
        if where == module and same and fragment in line:
            return why
    return None


PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0")


def _config(module: str, timeout: float, clone: Path) -> str:
    # each mutant runs only the target's tests that execute a line it changed (from a coverage
    # run of the target's tests, one context per test): a test that never reaches the mutant
    # cannot kill it, and the slow tests no longer run for every survivor
    command = [sys.executable, str(clone / "bench" / "mutation.py"), "--covering", module]
    return (
        "[cosmic-ray]\n"
        f'module-path = "{PACKAGE}/{module}.py"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(shlex.join(command))}\n"
        "\n[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def _coverage_file(clone: Path, module: str) -> Path:
    return clone / f"{module}-lines.json"


def _map_coverage(module: str, clone: Path, env: dict[str, str]) -> None:
    """Which of the target's tests execute each line of the module (setup and call alike)."""
    from coverage import CoverageData

    data_file = clone / f".coverage-{module}"
    source = clone / PACKAGE / f"{module}.py"
    done = subprocess.run(
        [sys.executable, *PYTEST, f"--cov={clone / PACKAGE}", "--cov-context=test",
         "--cov-report=", "--cov-fail-under=0", *TARGETS[module].tests],
        cwd=clone, env={**env, "COVERAGE_FILE": str(data_file)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the coverage run of {module}'s tests failed:\n{done.stdout[-3000:]}")
    data = CoverageData(basename=str(data_file))
    data.read()
    lines: dict[int, set[str]] = {}
    for filename in data.measured_files():
        if Path(filename).resolve() != source.resolve():
            continue
        for line, contexts in data.contexts_by_lineno(filename).items():
            # a context is `<node id>|setup`, `|run` or `|teardown`
            lines.setdefault(line, set()).update(c.rsplit("|", 1)[0] for c in contexts if c)
    _coverage_file(clone, module).write_text(
        json.dumps({str(k): sorted(v) for k, v in lines.items()})
    )


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's annotations are: with `from __future__ import annotations` they are
    never evaluated, so a mutant there is equivalent (it cannot change behaviour)."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        found: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(node.returns)
            arguments = node.args
            for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                        arguments.vararg, arguments.kwarg]:  # fmt: skip
                found.append(arg.annotation if arg else None)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for annotation in found:
            if annotation is not None and annotation.end_lineno is not None:
                spans.append(((annotation.lineno, annotation.col_offset),
                              (annotation.end_lineno, annotation.end_col_offset or 0)))  # fmt: skip
    return spans


def _scoped_lines(source: str, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """The line ranges of the named functions (at any depth), decorators included."""
    ranges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            ranges.append((first, node.end_lineno or node.lineno))
    missing = set(names) - {n.name for n in ast.walk(ast.parse(source))
                            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}  # fmt: skip
    if missing:
        raise SystemExit(f"scope names functions that do not exist: {', '.join(sorted(missing))}")
    return ranges


def _skip_out_of_scope(
    session: Path,
    lines: list[tuple[int, int]],
    annotations: list[tuple[tuple[int, int], tuple[int, int]]],
) -> int:
    """Mark the mutants outside the scope as skipped before they run, and those inside an
    annotation (equivalent whatever the tests say: they are never run); returns how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            line = item.mutations[0].start_pos[0]
            at = tuple(item.mutations[0].start_pos)
            if any(start <= at < end for start, end in annotations):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="annotation"))  # fmt: skip
                skipped += 1
            elif not any(first <= line <= last for first, last in lines):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="out of scope"))  # fmt: skip
                skipped += 1
    return skipped


def mutate(module: str, clone: Path, env: dict[str, str], timeout: float) -> list[dict[str, str]]:
    config = clone / f"cosmic-ray-{module}.toml"
    config.write_text(_config(module, timeout, clone))
    session = clone / f"{module}.sqlite"
    tool = str(Path(sys.executable).with_name("cosmic-ray"))
    _map_coverage(module, clone, env)  # also the baseline: it fails if a target test fails
    _run([tool, "init", str(config), str(session)], clone, env)
    source = (clone / PACKAGE / f"{module}.py").read_text()
    scope = TARGETS[module].scope
    spans = _annotation_spans(source) if "from __future__ import annotations" in source else []
    whole = [(1, len(source.splitlines()))]
    _skip_out_of_scope(session, _scoped_lines(source, scope) if scope else whole, spans)
    _run([tool, "exec", str(config), str(session)], clone, env)
    lines = source.splitlines()
    results = []
    for line in _run([tool, "dump", str(session)], clone, env).splitlines():
        item, outcome = json.loads(line)
        skipped = (outcome or {}).get("worker_outcome") == "skipped"
        if skipped and (outcome or {}).get("output") != "annotation":
            continue  # outside the module's safety core (its scope in TARGETS)
        mutation = item["mutations"][0]
        at = (int(mutation["start_pos"][0]), int(mutation["start_pos"][1]))
        equivalent = any(start <= at < end for start, end in spans)
        operator = str(mutation["operator_name"]).rsplit("/", 1)[-1]
        why = _reviewed(module, operator, lines[at[0] - 1])
        results.append({
            "module": module,
            "line": str(mutation["start_pos"][0]),
            "operator": operator,
            "why": why or "",
            "occurrence": str(mutation["occurrence"]),
            "outcome": "equivalent" if equivalent
            else str((outcome or {}).get("test_outcome", "not run")),
        })  # fmt: skip
    return results


def covering(module: str) -> int:
    """Run, for the mutant now in the tree (cosmic-ray writes it in place), the target's tests
    that execute a line it changed, in the target's order (if none does, every one of them)."""
    import difflib

    clone = Path.cwd()
    path = f"{PACKAGE}/{module}.py"
    original = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=clone, capture_output=True,
                              text=True, check=True).stdout.splitlines()  # fmt: skip
    mutated = (clone / path).read_text().splitlines()
    changed: set[int] = set()
    matcher = difflib.SequenceMatcher(a=original, b=mutated, autojunk=False)
    for tag, first, last, _, _ in matcher.get_opcodes():
        if tag != "equal":
            changed.update(range(first + 1, max(last, first + 1) + 1))
    lines = json.loads(_coverage_file(clone, module).read_text())
    tests = sorted({t for line in changed for t in lines.get(str(line), [])})
    if not tests:
        # run at import only (a signature, a default, a decorator) or by no test: all of them
        everything = [sys.executable, *PYTEST, "-x", "--no-cov", *TARGETS[module].tests]
        return subprocess.run(everything, cwd=clone, check=False).returncode
    order = [a for a in TARGETS[module].tests if a.startswith("tests/")]

    def rank(test: str) -> tuple[int, str]:
        places = [i for i, a in enumerate(order) if test.startswith(a)]
        return (min(places, default=len(order)), test)

    tests.sort(key=rank)
    return subprocess.run([sys.executable, *PYTEST, "-x", "--no-cov", *tests],
                          cwd=clone, check=False).returncode  # fmt: skip


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--covering":
        raise SystemExit(covering(sys.argv[2]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--modules", default=",".join(TARGETS))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--jobs", type=int, default=1, help="modules mutated side by side")
    args = parser.parse_args()
    modules = [m for m in args.modules.split(",") if m]
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown modules: {', '.join(unknown)} (known: {', '.join(TARGETS)})")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="v6migrate-mutation-") as work:

        def one(module: str) -> list[dict[str, str]]:
            # a clone per module: cosmic-ray mutates the file in place, and one module's tests
            # import the others, so modules run side by side must not share a tree
            clone = Path(work) / module
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            env = {**os.environ, "PYTHONPATH": f"{clone / 'layers/common'}:{clone}"}
            return mutate(module, clone, env, args.timeout)

        # the slow modules start first, so the quick ones fill in beside them
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            runs = {m: pool.submit(one, m) for m in sorted(modules, key=lambda m: m not in SLOW)}
            results = [r for m in modules for r in runs[m].result()]
    equivalent = [r for r in results if r["outcome"] == "equivalent"]
    reviewed = [r for r in results if r["outcome"] == "survived" and r["why"]]
    results = [r for r in results if r not in equivalent and r not in reviewed]
    killed = [r for r in results if r["outcome"] in ("killed", "incompetent")]
    survived = [r for r in results if r["outcome"] == "survived"]
    print(f"equivalent, left out of the score: {len(equivalent)} mutants inside annotations "
          "(never evaluated: `from __future__ import annotations`)")  # fmt: skip
    print(f"equivalent, left out of the score: {len(reviewed)} survivors reviewed by hand:")
    for r in reviewed:
        print(f"    {PACKAGE}/{r['module']}.py:{r['line']} {r['operator']}: {r['why']}")
    for module in modules:
        mine = [r for r in results if r["module"] == module]
        dead = sum(r in killed for r in mine)
        scope = TARGETS[module].scope
        where = f" (scope: {', '.join(scope)})" if scope else ""
        print(f"{module}: {len(mine)} mutants, {dead} killed{where}")
    for r in survived:
        print(f"    survived: {PACKAGE}/{r['module']}.py:{r['line']} {r['operator']} "
              f"(occurrence {r['occurrence']})")  # fmt: skip
    left = [m for m in TARGETS if m not in modules]
    print(f"modules not run this time: {', '.join(left) or 'none'}; "
          f"{time.perf_counter() - started:.0f}s")  # fmt: skip
    total = len(results)
    score = len(killed) / total if total else 0.0
    print(f"mutation: mutants={total} killed={len(killed)} survived={len(survived)} "
          f"score={score:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
