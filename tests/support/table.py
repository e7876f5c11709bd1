"""What the service wrote to its DynamoDB table, read the way a test checks it: every item."""

from __future__ import annotations


def table_items(functions) -> list[dict]:
    """Every item of the functions' table (low-level attribute values), read consistently."""
    db = functions.session.client("dynamodb")
    items: list[dict] = []
    kwargs = {"TableName": functions.resources.table_name, "ConsistentRead": True}
    while True:
        page = db.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
