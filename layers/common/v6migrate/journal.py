"""The ledger (DynamoDB): the approved plan, one item per change, and a lock per cluster.

Every mutating AWS call is journaled first as `intent` (with the before-state needed to revert
it), then as `applied` (with what AWS returned). A change found already in effect with no
`intent` of this run is `in-place`: it existed before, and rollback never touches it. All
writes are conditional, so two writers can never both believe they own a change or a cluster.

Keys: `pk = migration#<id>`: `sk = plan` (the approved plan, zlib-compressed) and
`sk = change#<nnnnn>` (plan order) and `sk = note#<key>` (the validation's access entry
and report); `pk = cluster#<account>#<region>#<name>`, `sk = lock`.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from v6migrate.errors import BlockedError, V6MigrateError, translate
from v6migrate.models import Change, Frozen, Plan

Status = Literal["intent", "applied", "in-place", "reverted"]
_CHANGE = TypeAdapter(Change)


class MigrationInProgress(BlockedError):
    """Another migration holds this cluster's lock."""


class JournalConflict(V6MigrateError):
    """A conditional write lost: the journal changed under us."""


class Entry(Frozen):
    migration_id: str
    seq: int
    change: Change
    status: Status
    before: dict[str, Any] = {}
    result: dict[str, Any] = {}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _conditional(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Ledger:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    @property
    def dynamodb(self) -> Any:
        return self._db

    @property
    def table(self) -> str:
        return self._table

    # ------------------------------------------------------------------ lock

    @staticmethod
    def _lock_key(account_id: str, region: str, cluster: str) -> dict[str, Any]:
        return {"pk": {"S": f"cluster#{account_id}#{region}#{cluster}"}, "sk": {"S": "lock"}}

    def acquire(self, account_id: str, region: str, cluster: str, migration_id: str) -> None:
        """Take the cluster's lock, or keep it if this migration already holds it."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._lock_key(account_id, region, cluster),
                    "migration_id": {"S": migration_id},
                    "acquired_at": {"S": _now()},
                },
                ConditionExpression="attribute_not_exists(pk) OR migration_id = :me",
                ExpressionAttributeValues={":me": {"S": migration_id}},
            )
        except ClientError as error:
            if _conditional(error):
                holder = self.holder(account_id, region, cluster)
                raise MigrationInProgress(
                    f"cluster {cluster} ({account_id}, {region}) is being migrated by {holder}: "
                    "wait for it to end, or release its lock if it was abandoned"
                ) from error
            raise translate(error, "dynamodb:PutItem lock") from error

    def holder(self, account_id: str, region: str, cluster: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table,
            Key=self._lock_key(account_id, region, cluster),
            ConsistentRead=True,
        ).get("Item")
        return item["migration_id"]["S"] if item else None

    def release(self, account_id: str, region: str, cluster: str, migration_id: str) -> None:
        """Drop the lock if this migration holds it (idempotent)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._lock_key(account_id, region, cluster),
                ConditionExpression="attribute_not_exists(pk) OR migration_id = :me",
                ExpressionAttributeValues={":me": {"S": migration_id}},
            )
        except ClientError as error:
            if not _conditional(error):
                raise translate(error, "dynamodb:DeleteItem lock") from error

    # ------------------------------------------------------------------ plan

    def save_plan(self, migration_id: str, plan: Plan) -> None:
        """Store the approved plan once; a re-run of Preflight must not replace it."""
        self._put_plan(migration_id, plan, replace=False)

    def replace_plan(self, migration_id: str, plan: Plan) -> None:
        """The plan made again before the first change, when it differs from the stored one:
        it is what the approver is asked about next, and what the stages then apply. Only
        before any change is journaled (the state machine asks again before the first)."""
        self._put_plan(migration_id, plan, replace=True)

    def _put_plan(self, migration_id: str, plan: Plan, replace: bool) -> None:
        body = zlib.compress(plan.model_dump_json().encode(), level=6)
        once = {} if replace else {"ConditionExpression": "attribute_not_exists(pk)"}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"migration#{migration_id}"},
                    "sk": {"S": "plan"},
                    "plan": {"B": body},
                    "created_at": {"S": _now()},
                },
                **once,
            )
        except ClientError as error:
            if replace or not _conditional(error):
                raise translate(error, "dynamodb:PutItem plan") from error

    def plan(self, migration_id: str) -> Plan:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"migration#{migration_id}"}, "sk": {"S": "plan"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise V6MigrateError(f"migration {migration_id} has no stored plan")
        return Plan.model_validate_json(zlib.decompress(item["plan"]["B"]))

    # ------------------------------------------------------------------ notes

    def note(self, migration_id: str, key: str, data: dict[str, Any]) -> None:
        """A record beside the changes: a temporary access entry, the validation report, when a
        stage began. Written with UpdateItem (an upsert), the verb every function that notes
        holds already for the journal (template.yaml), so none needs PutItem for it."""
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"migration#{migration_id}"}, "sk": {"S": f"note#{key}"}},
            UpdateExpression="SET #data = :data, updated_at = :now",
            ExpressionAttributeNames={"#data": "data"},  # a reserved word in DynamoDB
            ExpressionAttributeValues={
                ":data": {"S": json.dumps(data, sort_keys=True)},
                ":now": {"S": _now()},
            },
        )

    def read_note(self, migration_id: str, key: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"migration#{migration_id}"}, "sk": {"S": f"note#{key}"}},
            ConsistentRead=True,
        ).get("Item")
        return json.loads(item["data"]["S"]) if item else None

    def control(self, run_id: str, fields: dict[str, Any], action: dict[str, Any]) -> None:
        """An operator's (or the ramp's) action on a running wave, kept before it takes effect:
        the fields it sets and the action appended to the list, in one UpdateItem, so two
        actions at once lose neither."""
        values: dict[str, Any] = {f":{k}": {"S": json.dumps(v)} for k, v in fields.items()}
        values |= {
            ":one": {"L": [{"S": json.dumps(action, sort_keys=True)}]},
            ":none": {"L": []},
            ":now": {"S": _now()},
        }
        sets = [f"#{k} = :{k}" for k in fields]
        sets += [
            "#actions = list_append(if_not_exists(#actions, :none), :one)",
            "updated_at = :now",
        ]
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"migration#{run_id}"}, "sk": {"S": "control"}},
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames={f"#{k}": k for k in fields} | {"#actions": "actions"},
            ExpressionAttributeValues=values,
        )

    def read_control(self, run_id: str) -> dict[str, Any]:
        """What `control` kept for the wave run: its fields and actions (empty if none)."""
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"migration#{run_id}"}, "sk": {"S": "control"}},
            ConsistentRead=True,
        ).get("Item", {})
        kept = {
            k: json.loads(v["S"])
            for k, v in item.items()
            if k not in ("pk", "sk", "actions", "updated_at") and "S" in v
        }
        kept["actions"] = [json.loads(a["S"]) for a in item.get("actions", {}).get("L", [])]
        return kept

    def record_wave_request(self, request_id: str, requested_by: str, wave_digest: str) -> None:
        """Who asked for a wave (POST /waves) or made its schedule (PUT /waves/schedules), and
        which wave: the wave run reads its requester here, never from its input. A schedule's
        request is replaced when the schedule is."""
        self._db.put_item(
            TableName=self._table,
            Item={"pk": {"S": f"wave-request#{request_id}"}, "sk": {"S": "request"},
                  "requested_by": {"S": requested_by}, "wave_digest": {"S": wave_digest},
                  "updated_at": {"S": _now()}},
        )  # fmt: skip

    def wave_request(self, request_id: str) -> dict[str, str] | None:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"wave-request#{request_id}"}, "sk": {"S": "request"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return {k: item[k]["S"] for k in ("requested_by", "wave_digest", "updated_at")}

    _HOLD = {"pk": {"S": "waves"}, "sk": {"S": "hold"}}

    def hold_waves(self, hold: dict[str, Any]) -> None:
        """Hold the waves that start from now on until one of them is approved (a wave that
        stopped or was aborted: its run, status and time)."""
        self._db.update_item(
            TableName=self._table, Key=self._HOLD,
            UpdateExpression="SET #data = :data, hold_run = :run",
            ExpressionAttributeNames={"#data": "data"},
            ExpressionAttributeValues={":data": {"S": json.dumps(hold, sort_keys=True)},
                                       ":run": {"S": str(hold["run_id"])}},
        )  # fmt: skip

    def waves_hold(self) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=self._HOLD, ConsistentRead=True)
        found = item.get("Item")
        return json.loads(found["data"]["S"]) if found else None

    def release_waves(self, run_id: str) -> bool:
        """Lift the hold set by wave run `run_id` (an approval that saw it); a hold a later
        wave set meanwhile stays. True if this call lifted it."""
        try:
            self._db.delete_item(
                TableName=self._table, Key=self._HOLD,
                ConditionExpression="hold_run = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )  # fmt: skip
            return True
        except ClientError as error:
            if _conditional(error):
                return False
            raise translate(error, "dynamodb:DeleteItem hold") from error

    def acquire_slot(self, run_id: str, key: str, holder: str, limit: int) -> bool:
        """Take one of `limit` slots under `key` for `holder` (a wave's clusters in one account
        and Region); False if all are held by others. Taken again by its holder, it is still
        theirs (a retried call)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"migration#{run_id}"}, "sk": {"S": f"slot#{key}"}},
                UpdateExpression="ADD holders :me",
                ConditionExpression="attribute_not_exists(holders) OR size(holders) < :limit "
                "OR contains(holders, :name)",
                ExpressionAttributeValues={
                    ":me": {"SS": [holder]},
                    ":name": {"S": holder},
                    ":limit": {"N": str(limit)},
                },
            )
            return True
        except ClientError as error:
            if _conditional(error):
                return False
            raise translate(error, "dynamodb:UpdateItem slot") from error

    def release_slot(self, run_id: str, key: str, holder: str) -> None:
        """Give the slot back (nothing if `holder` held none)."""
        self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"migration#{run_id}"}, "sk": {"S": f"slot#{key}"}},
            UpdateExpression="DELETE holders :me",
            ExpressionAttributeValues={":me": {"SS": [holder]}},
        )

    def pending_approval(
        self, migration_id: str, after: str | None = None, timeout: float = 60, poll: float = 0.25
    ) -> dict[str, Any] | None:
        """The approval note of a run that waits for a decision (the approval function writes
        it as the Approval state begins; a re-asked one has a new id, so `after` names the one
        already seen), or None if none is pending within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            note = self.read_note(migration_id, "approval")
            if note and note.get("status") == "pending" and note.get("approval_id") != after:
                return note
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    # ------------------------------------------------------------------ changes

    @staticmethod
    def _key(migration_id: str, seq: int) -> dict[str, Any]:
        return {"pk": {"S": f"migration#{migration_id}"}, "sk": {"S": f"change#{seq:05d}"}}

    def record(
        self,
        migration_id: str,
        seq: int,
        change: Change,
        status: Status,
        before: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Write a change's new status; the condition keeps the lifecycle one-way."""
        allowed_from: dict[Status, tuple[str, ...]] = {
            "intent": ("intent",),
            "applied": ("intent", "applied"),
            "in-place": ("in-place",),
            "reverted": ("intent", "applied", "reverted"),
        }
        previous = allowed_from[status]
        # One UpdateItem: a later status keeps the before-state and result written earlier.
        fields: dict[str, str] = {
            "status": status,
            "change": _CHANGE.dump_json(change).decode(),
            "change_id": change.change_id,
            "stage": change.stage,
            "updated_at": _now(),
        }
        if before is not None:
            fields["before"] = json.dumps(before, sort_keys=True)
        if result is not None:
            fields["result"] = json.dumps(result, sort_keys=True)
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": {"S": v} for k, v in fields.items()}
        values.update({f":was{i}": {"S": s} for i, s in enumerate(previous)})
        was = ", ".join(f":was{i}" for i in range(len(previous)))
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(migration_id, seq),
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                ConditionExpression=f"attribute_not_exists(sk) OR #status IN ({was})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _conditional(error):
                raise JournalConflict(
                    f"{change.change_id}: cannot become {status} from its journaled state"
                ) from error
            raise translate(error, "dynamodb:UpdateItem change") from error

    def entries(self, migration_id: str) -> Iterator[Entry]:
        """Every journaled change of a migration, in plan order."""
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": f"migration#{migration_id}"},
                ":prefix": {"S": "change#"},
            },
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                yield Entry(
                    migration_id=migration_id,
                    seq=int(item["sk"]["S"].split("#")[1]),
                    change=_CHANGE.validate_json(item["change"]["S"]),
                    status=item["status"]["S"],
                    before=json.loads(item["before"]["S"]) if "before" in item else {},
                    result=json.loads(item["result"]["S"]) if "result" in item else {},
                )
