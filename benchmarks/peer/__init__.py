"""The Powertools peer: the same unavoidable I/O as the baseline (benchmarks/baseline/, whose
core and route bodies it calls: the same Dwolla requests, DynamoDB items and conditions, outbox,
caches), written as a careful engineer would ship it with aws-lambda-powertools: a Logger with
the API Gateway request's correlation id injected and one structured line per outcome, Metrics
flushed as EMF at the end of every invocation, and an `APIGatewayRestResolver` routing the API
and callback paths. `api`, `callback` and `relay` mirror functions/{api,callback,relay}/app.py.
The targets compare the product with this peer; the raw baseline stays as information.
"""
