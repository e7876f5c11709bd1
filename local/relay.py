"""The outbox relay on one machine: what Lambda's DynamoDB stream event source mapping does in
AWS, played against moto (server or in process) with the RelayFunction's own handler.

It reads the table's stream shard by shard, keeps what the mapping's filter keeps (new OUTBOX#
items), hands the records to the handler in order, and when the handler reports a failure,
keeps the records from that one on for the next round (Lambda retries from there).

    pump = StreamPump(session, table_name, handler)     # handler(event, context) -> dict
    pump.pump()                                         # one round; returns records delivered
    python -m local.relay [STATE_DIR]                   # `make up`: rounds every 0.3 s
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from botocore.config import Config

# botocore's account-based endpoints for DynamoDB Streams are not moto's: ask for the classic one.
STREAMS_CONFIG = Config(account_id_endpoint_mode="disabled")


def keeps(record: dict) -> bool:
    """The event source mapping's filter (template.yaml): new OUTBOX# items only."""
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    return record.get("eventName") == "INSERT" and keys.get("pk", {}).get("S", "").startswith(
        "OUTBOX#"
    )


class _LambdaContext:
    function_name = "RelayFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:RelayFunction"
    memory_limit_in_mb = 512
    aws_request_id = "local-relay"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


class StreamPump:
    def __init__(self, session, table_name: str, handler: Callable[[dict, object], dict]) -> None:
        self._streams = session.client("dynamodbstreams", config=STREAMS_CONFIG)
        self._db = session.client("dynamodb")
        self._table = table_name
        table = self._db.describe_table(TableName=table_name)["Table"]
        self._arn = table["LatestStreamArn"]
        self._handler = handler
        self._last: dict[str, str] = {}  # shard id -> the last sequence number read
        self._retry: list[dict] = []  # records the handler has not delivered yet, in order

    def pump(self) -> int:
        """One round: new records (after the ones waiting for a retry) through the handler."""
        records = self._retry + [r for r in self._read() if keeps(r) and self._committed(r)]
        if not records:
            return 0
        self._retry = records  # a handler that crashes gets the whole batch again, as in Lambda
        answer = self._handler({"Records": records}, _LambdaContext()) or {}
        failures = answer.get("batchItemFailures") or []
        if not failures:
            self._retry = []
            return len(records)
        first = failures[0]["itemIdentifier"]
        at = next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == first)
        self._retry = records[at:]
        return at

    def _committed(self, record: dict) -> bool:
        """moto writes stream records for the items of a transaction it then cancels; DynamoDB
        does not. An outbox item is never deleted (but by its TTL, days later), so a record
        whose item is not in the table is one of those, and is dropped here."""
        keys = record["dynamodb"]["Keys"]
        return "Item" in self._db.get_item(TableName=self._table, Key=keys, ConsistentRead=True)

    def _read(self) -> list[dict]:
        """New records of every shard, after the last one read there. A fresh iterator each
        round: moto swaps a table (and its stream) for a copy when it rolls a transaction back,
        which leaves a held iterator reading a stream nobody writes to any more."""
        found: list[dict] = []
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            after = self._last.get(shard_id)
            position = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
                if after
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=shard_id, **position
            )["ShardIterator"]
            records = self._streams.get_records(ShardIterator=iterator).get("Records", [])
            if records:
                self._last[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            found += records
        return found


def load_function_handler(root: Path, folder: str) -> Callable[[dict, object], dict]:
    """functions/<folder>/app.py's handler, loaded under a name of its own (every function's
    module is "app"), as the local pumps run it in this process."""
    spec = importlib.util.spec_from_file_location(
        f"{folder}_function_app", root / "functions" / folder / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def load_handler(root: Path) -> Callable[[dict, object], dict]:
    """RelayFunction's handler (functions/relay/app.py)."""
    return load_function_handler(root, "relay")


def main(argv: list[str]) -> int:
    """`make up`'s relay: the stack's moto server, RelayFunction's handler, rounds forever."""
    from local import stack as local_stack
    from local.provision import function_environment

    state_dir = Path(argv[0]) if argv else local_stack.ROOT / ".local"
    stack = local_stack.Stack.load(state_dir)
    if stack is None:
        print(f"no local stack in {state_dir}", file=sys.stderr)
        return 1
    session = stack.aws()  # sets AWS_* and AWS_ENDPOINT_URL (moto server) for this process
    resources = stack.local_resources()
    os.environ.update(
        function_environment(
            resources,
            {
                "AWS_ENDPOINT_URL": stack.moto_url,
                "PUBLIC_BASE_URL": stack.api_url,
                "DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            },
        )
    )
    sys.path.insert(0, str(local_stack.ROOT / "layers" / "reauth"))
    pump = StreamPump(session, resources.table_name, load_handler(local_stack.ROOT))
    while True:
        try:
            pump.pump()
        except Exception as error:  # moto restarting, a handler fault: go on, as Lambda does
            print(f"relay: {error!r}", file=sys.stderr, flush=True)
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
