"""The ledger's lock and journal: the rules other code relies on (DESIGN.md, the journal;
DOMAIN.md, one migration per cluster), each against DynamoDB's conditional writes in moto."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from v6migrate.errors import V6MigrateError
from v6migrate.journal import JournalConflict, Ledger, MigrationInProgress
from v6migrate.models import AssociateVpcIpv6Cidr, Plan

WHERE = ("222222222222", "eu-west-1", "orders")


def test_a_lock_is_kept_by_its_holder_and_refused_to_another(ledger: Ledger) -> None:
    ledger.acquire(*WHERE, "m-1")
    ledger.acquire(*WHERE, "m-1")  # a retried Preflight keeps its own lock
    with pytest.raises(MigrationInProgress, match="being migrated by m-1"):
        ledger.acquire(*WHERE, "m-2")
    assert ledger.holder(*WHERE) == "m-1"


def test_release_drops_only_the_callers_own_lock(ledger: Ledger) -> None:
    ledger.acquire(*WHERE, "m-1")
    ledger.release(*WHERE, "m-2")  # another migration's rollback must not free the cluster
    assert ledger.holder(*WHERE) == "m-1"
    ledger.release(*WHERE, "m-1")
    assert ledger.holder(*WHERE) is None
    ledger.release(*WHERE, "m-1")  # idempotent
    ledger.acquire(*WHERE, "m-2")
    assert ledger.holder(*WHERE) == "m-2"


def test_a_changes_lifecycle_only_moves_forward(ledger: Ledger) -> None:
    change = AssociateVpcIpv6Cidr(target="vpc-1")
    ledger.record("m-1", 1, change, "intent", before={"cidr": None})
    ledger.record("m-1", 1, change, "applied", result={"cidr": "2600::/56"})
    with pytest.raises(JournalConflict):
        ledger.record("m-1", 1, change, "intent")  # an applied change is never "only intended"
    ledger.record("m-1", 1, change, "reverted")
    with pytest.raises(JournalConflict):
        ledger.record("m-1", 1, change, "applied")  # nor applied again once reverted
    [entry] = ledger.entries("m-1")
    # a later status keeps what was written before it
    assert (entry.status, entry.before, entry.result) == (
        "reverted",
        {"cidr": None},
        {"cidr": "2600::/56"},
    )


def test_locks_are_per_cluster_region_and_account(ledger: Ledger) -> None:
    ledger.acquire(*WHERE, "m-1")
    account, region, cluster = WHERE
    # the same name elsewhere is another cluster: its migration is not blocked
    ledger.acquire(account, region, "payments", "m-2")
    ledger.acquire(account, "eu-central-1", cluster, "m-3")
    ledger.acquire("333333333333", region, cluster, "m-4")
    assert ledger.holder(*WHERE) == "m-1"
    assert ledger.holder(account, "eu-central-1", cluster) == "m-3"


def test_the_approved_plan_is_stored_once_and_never_replaced(ledger: Ledger) -> None:
    with pytest.raises(V6MigrateError, match="m-1 has no stored plan"):
        ledger.plan("m-1")
    approved = Plan(cluster="orders", account_id=WHERE[0], region=WHERE[1], vpc_id="vpc-1",
                    changes=(AssociateVpcIpv6Cidr(target="vpc-1"),))  # fmt: skip
    ledger.save_plan("m-1", approved)
    # a re-run of Preflight, on an estate that changed since, must not replace what was approved
    ledger.save_plan("m-1", approved.model_copy(update={"changes": ()}))
    assert ledger.plan("m-1") == approved


def test_a_change_found_in_place_is_never_taken_over_nor_reverted(ledger: Ledger) -> None:
    change = AssociateVpcIpv6Cidr(target="vpc-1")
    ledger.record("m-1", 1, change, "in-place")
    ledger.record("m-1", 1, change, "in-place")  # a re-run finds it again
    for status in ("intent", "applied", "reverted"):
        with pytest.raises(JournalConflict, match="cannot become"):
            ledger.record("m-1", 1, change, status)  # type: ignore[arg-type]
    assert [e.status for e in ledger.entries("m-1")] == ["in-place"]


def test_a_rerun_may_journal_the_same_step_again(ledger: Ledger) -> None:
    change = AssociateVpcIpv6Cidr(target="vpc-1")
    ledger.record("m-1", 1, change, "intent", before={"cidr": None})
    ledger.record("m-1", 1, change, "intent")  # crashed before the call: intent again
    ledger.record("m-1", 1, change, "applied", result={"cidr": "2600::/56"})
    ledger.record("m-1", 1, change, "applied")  # crashed after journaling: applied again
    ledger.record("m-1", 1, change, "reverted")
    ledger.record("m-1", 1, change, "reverted")  # a retried rollback
    [entry] = ledger.entries("m-1")
    assert (entry.status, entry.before, entry.result) == (
        "reverted", {"cidr": None}, {"cidr": "2600::/56"}
    )  # fmt: skip


def test_entries_come_back_in_plan_order_and_only_the_migrations_own(ledger: Ledger) -> None:
    # Compensation reverts newest first by this order: "change#10" must sort after "change#9".
    for seq in (10, 9, 1, 100):
        ledger.record("m-1", seq, AssociateVpcIpv6Cidr(target=f"vpc-{seq}"), "intent")
    ledger.record("m-2", 5, AssociateVpcIpv6Cidr(target="vpc-other"), "intent")
    ledger.note("m-1", "access", {"principal": "arn:aws:iam::1:role/x"})
    entries = list(ledger.entries("m-1"))
    assert [e.seq for e in entries] == [1, 9, 10, 100]
    assert [e.change.target for e in entries] == ["vpc-1", "vpc-9", "vpc-10", "vpc-100"]
    assert {e.migration_id for e in entries} == {"m-1"}


def test_notes_are_kept_beside_the_changes_and_replaced_by_key(ledger: Ledger) -> None:
    assert ledger.read_note("m-1", "access") is None
    ledger.note("m-1", "access", {"principal": "p", "status": "intent"})
    ledger.note("m-1", "access", {"principal": "p", "status": "removed"})
    ledger.note("m-1", "report", {"passed": True})
    assert ledger.read_note("m-1", "access") == {"principal": "p", "status": "removed"}
    assert ledger.read_note("m-2", "access") is None
    assert list(ledger.entries("m-1")) == []


class _Refusing:
    """A DynamoDB client whose every write fails with the given error code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def _fail(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "Write")

    put_item = delete_item = update_item = _fail


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "ResourceNotFoundException", "ValidationException"]
)
def test_only_a_lost_condition_means_the_lock_or_the_change_is_taken(code: str) -> None:
    # Any other refusal (no rights, no table) is an error to surface, never read as "another
    # migration holds it" nor swallowed as "already released".
    ledger = Ledger(_Refusing(code), "ledger")
    change = AssociateVpcIpv6Cidr(target="vpc-1")
    for attempt in (
        lambda: ledger.acquire(*WHERE, "m-1"),
        lambda: ledger.release(*WHERE, "m-1"),
        lambda: ledger.record("m-1", 1, change, "intent"),
        lambda: ledger.save_plan("m-1", Plan(cluster="c", account_id="1", region="r", vpc_id="v")),
    ):
        with pytest.raises(V6MigrateError) as raised:
            attempt()
        assert not isinstance(raised.value, (MigrationInProgress, JournalConflict))


def test_every_read_of_the_ledger_is_strongly_consistent(ledger: Ledger) -> None:
    # DynamoDB reads are eventually consistent unless asked (DynamoDB developer guide, read
    # consistency): a lock or a journal entry read just after its write must be seen.
    reads: list[tuple[str, Any]] = []
    ledger._db.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: reads.append((model.name, params.get("ConsistentRead"))),
    )
    ledger.acquire(*WHERE, "m-1")
    ledger.holder(*WHERE)
    ledger.save_plan("m-1", Plan(cluster="c", account_id="1", region="r", vpc_id="v"))
    ledger.plan("m-1")
    ledger.note("m-1", "access", {})
    ledger.read_note("m-1", "access")
    list(ledger.entries("m-1"))
    looked = [(name, consistent) for name, consistent in reads if name in ("GetItem", "Query")]
    assert len(looked) == 4
    assert all(consistent is True for _, consistent in looked), looked
