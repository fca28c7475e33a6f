"""The ledger's lock and journal: the rules other code relies on (DESIGN.md, the journal;
DOMAIN.md, one migration per cluster), each against DynamoDB's conditional writes in moto."""

from __future__ import annotations

import pytest

from v6migrate.journal import JournalConflict, Ledger, MigrationInProgress
from v6migrate.models import AssociateVpcIpv6Cidr

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
