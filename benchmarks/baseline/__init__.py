"""The baseline: what the functions must do at the least, written with raw boto3 and urllib3.

Same Dwolla requests, same DynamoDB items and conditions (the outbox items too), same events,
same caching of the Dwolla secret and the access token, lazily created clients, one urllib3
pool. No framework, no logging, no metrics, no validation beyond what the happy path needs; each
route does only the I/O that cannot be avoided (see benchmarks/README.md, "The baseline").
`api`, `callback` and `relay` mirror functions/{api,callback,relay}/app.py.
"""
