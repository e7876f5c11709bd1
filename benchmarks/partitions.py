"""Writes per partition key, with the deadline index keyed as before (one constant key) and as
now (write-sharded): a simulation of N re-authentication requests over moto.

Each request goes through the repository as the service writes it — created (the request, the
exchange's record, the idempotency record, the announcement in the outbox), then reauthorized
(two in three, a third of those after a `verifying` spell) or expired at its deadline — against
moto in process. A recorder around the DynamoDB client reads each written request item's index
key before and after the write, and counts one write per index partition it touched (an entry
put, moved or removed), and one base-table write per item key written.

    .venv/bin/python -m benchmarks.partitions [N]        (default 2,000: moto copies its tables on
                                                         every transaction, ~0.1 s a request)

It prints, for the table and the index, before and after: writes, partition keys, the hottest
key and its share, and the request rate at which that key would reach DynamoDB's per-partition
write limit (1,000 write units per second; every write here is at most 1 KB, one unit); and how
100,000 request ids spread over the shards (the shard function alone, no moto: moto's per-call
cost makes 100,000 requests through it a matter of hours).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta

PARTITION_WRITE_LIMIT = 1000  # write units per second per partition (DynamoDB, documented)
TABLE_EVERY = 50  # requests per moto table (partition keys are counted across tables)


@dataclass
class Tally:
    table: Counter
    index: Counter

    def report(self, label: str, requests: int) -> dict:
        out = {"label": label, "requests": requests}
        for name, counts in (("table", self.table), ("index", self.index)):
            total = sum(counts.values())
            key, hottest = counts.most_common(1)[0]
            per_request = hottest / requests
            out[name] = {
                "writes": total,
                "keys": len(counts),
                "hottest": key,
                "hottest_share": hottest / total,
                "max_requests_per_second": PARTITION_WRITE_LIMIT / per_request,
            }
        return out


class Recorder:
    """The DynamoDB client, counting writes per table key and per index partition."""

    def __init__(self, client, table: str) -> None:
        self._client = client
        self._table = table
        self.tally = Tally(Counter(), Counter())
        self.exceptions = client.exceptions

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def _index_entry(self, key: dict) -> tuple[str, str] | None:
        if not key["pk"]["S"].startswith("REQUEST#"):
            return None  # only request items are ever in the index
        item = self._client.get_item(TableName=self._table, Key=key).get("Item") or {}
        if "gsi1pk" not in item:
            return None
        return item["gsi1pk"]["S"], item["gsi1sk"]["N"]

    def _write(self, keys: list[dict], do):
        before = [self._index_entry(k) for k in keys]
        answer = do()
        for key, old in zip(keys, before, strict=True):
            self.tally.table[key["pk"]["S"]] += 1
            new = self._index_entry(key)
            if old == new:
                continue  # the index entry did not change: no index write
            if old and new and old[0] == new[0]:
                self.tally.index[new[0]] += 1  # the entry moved within its partition
                continue
            for entry in (old, new):  # removed from one partition, put into another
                if entry:
                    self.tally.index[entry[0]] += 1
        return answer

    def transact_write_items(self, TransactItems):
        keys = []
        for entry in TransactItems:
            ((_kind, body),) = entry.items()
            keys.append(
                body["Key"]
                if "Key" in body
                else {"pk": body["Item"]["pk"], "sk": body["Item"]["sk"]}
            )
        return self._write(
            keys, lambda: self._client.transact_write_items(TransactItems=TransactItems)
        )

    def update_item(self, **request):
        return self._write([request["Key"]], lambda: self._client.update_item(**request))

    def put_item(self, **request):
        key = {"pk": request["Item"]["pk"], "sk": request["Item"]["sk"]}
        return self._write([key], lambda: self._client.put_item(**request))


def simulate(requests: int, sharded: bool) -> Tally:
    import boto3
    from moto import mock_aws

    from reauth import repository

    sharding = repository.shard_key
    if not sharded:  # the index as it was: one constant key per state
        repository.shard_key = lambda state, _request_id: state
    try:
        return _run(requests, repository, mock_aws, boto3)
    finally:
        repository.shard_key = sharding


def _run(requests: int, repository, mock_aws, boto3) -> Tally:
    from local.provision import load_template, table_definition
    from reauth.model import Attempt, HandoffType, ReauthRequest, RequestStatus, utcnow
    from reauth.outbox import OutboxEvent

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        recorder = None
        start = utcnow()
        for n in range(requests):
            if n % TABLE_EVERY == 0:  # moto copies its tables per transaction: keep them small
                if recorder is not None:
                    client.delete_table(TableName=f"sim-{n // TABLE_EVERY - 1}")
                table = f"sim-{n // TABLE_EVERY}"
                client.create_table(**table_definition(load_template(), table))
                tally = recorder.tally if recorder else None
                recorder = Recorder(client, table)
                if tally:
                    recorder.tally = tally
                repo = repository.RequestRepository(recorder, table)
            now = start + timedelta(seconds=n)
            attempt = Attempt(
                str(uuid.uuid4()),
                now,
                now + timedelta(minutes=30),
                HandoffType.REDIRECT,
                "https://bank.example/x",
            )
            request = ReauthRequest(
                id=str(uuid.uuid4()),
                exchange_id=str(uuid.uuid4()),
                customer_id=None,
                status=RequestStatus.PENDING,
                return_url=None,
                created_at=now,
                expires_at=now + timedelta(days=7),
                updated_at=now,
                attempts=(attempt,),
                current_attempt_id=attempt.id,
            )
            created = OutboxEvent("Reauth Session Created", {"sessionId": request.id}, request.id)
            repo.create_request(
                request,
                supersedes=None,
                idempotency=(uuid.uuid4().hex, "f"),
                now=now,
                outbox=[created],
            )
            request = replace(request, event_seq=1)  # as stored: its announcement is event 1
            ending = n % 3
            if ending == 2:
                repo.expire(request, request.expires_at, [])
                continue
            if ending == 1 and n % 9 == 1:
                request = repo.mark_verifying(request, now, now + timedelta(minutes=1)) or request
            done = OutboxEvent("Exchange Reauthorized", {"sessionId": request.id}, request.id)
            repo.mark_reauthorized(request, attempt.id, now, [done])
        return recorder.tally


def shard_spread(ids: int) -> tuple[int, float]:
    """How `ids` request ids spread over the index shards: (keys used, the hottest's share)."""
    from reauth.repository import shard_key

    counts = Counter(shard_key("PENDING", str(uuid.uuid4())) for _ in range(ids))
    return len(counts), counts.most_common(1)[0][1] / ids


def main(argv: list[str]) -> int:
    requests = int(argv[0]) if argv else 2_000
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "sim")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "sim")
    sys.path.insert(0, "layers/reauth")
    for label, sharded in (("before: one index key", False), ("after: 16 index shards", True)):
        began = time.monotonic()
        result = simulate(requests, sharded).report(label, requests)
        print(f"\n{label}  ({requests:,} requests, {time.monotonic() - began:.0f} s over moto)")
        for name in ("table", "index"):
            r = result[name]
            print(
                f"  {name:5}  {r['writes']:>9,} writes over {r['keys']:>9,} keys; hottest "
                f"{r['hottest']!r} {r['hottest_share']:.2%} of writes; that key reaches "
                f"{PARTITION_WRITE_LIMIT:,} writes/s at {r['max_requests_per_second']:,.0f} "
                "requests/s"
            )
    keys, share = shard_spread(100_000)
    print(
        f"\nthe shard function over 100,000 request ids: {keys} keys, the hottest holds "
        f"{share:.2%} (an even spread: {1 / keys:.2%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
