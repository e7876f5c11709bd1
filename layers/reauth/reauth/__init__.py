"""The re-authentication domain: requests that bring a customer's Dwolla exchange back to life.

Modules, from the outside in:
  config      the one configuration object, built once per cold start from the environment
  errors      every error a caller can see (stable code, HTTP status, message); depends on nothing
  model       requests, attempts, exchange records and the one table of allowed state transitions
  ids         the identifiers accepted from outside: UUIDs, idempotency keys, checked before I/O
  urls        the return-URL allow-list (entries' rules, exact membership) and URL joins
  contacts    the customer's contact on create (email, E.164 phone, name, locale, time zone)
  schedule    when each message is due: the first at once, reminders, quiet hours
  words       the catalogue: every word a customer reads (pages, messages), by language, and
              the choice of a language (the request's, the browser's, the deployment's)
  words_en    English: every key of the catalogue
  words_es    Spanish (Latin American, "tú"): every key of the catalogue
  messages    the messages rendered (email text + HTML, SMS in one segment) and the senders' port
  messaging   the message adapters: SES v2 email, SNS SMS
  security    link keys, binding cookies, CSRF, the same-origin rule
  dwolla      the Dwolla API adapter (urllib3)
  dwolla_errors  the one table mapping Dwolla's answers onto the error codes
  repository  the DynamoDB adapter
  events      the EventBridge adapter (what the relay publishes)
  outbox      events written in the same transaction as the change they tell of
  credentials the Secrets Manager adapter (Dwolla's key/secret, the webhook and link secrets)
  context     what every use case is given: adapters, the service's URLs, settings, a clock
  creating    use cases: creating a request (API call or EventBridge event)
  journey     use cases: the customer's browser (link, button, bank, callback, Plaid page)
  ownership   whose funding source is it: Dwolla's links, checked before it proves a repair
  verifying   use cases: "reauthorized" only when Dwolla's balance check says so; completions
  lifecycle   use cases: reads, the platform's cancel, the schedule (deadlines, re-checks,
              due messages)
  delivery    use cases: sending the link, first message and reminders, one per slot
  timeline    a request's funnel as the platform reads it: created, sent, opened, started, ended
  renewal     use cases: "Send me a new link" on an expired or cancelled link, and the
              self-service renewal it may start
  webhooks    use cases: Dwolla's signed webhooks and the catch-up of events they missed
  feedback    SES's bounce and complaint events read into the request whose email channel ended
  relaying    the outbox relay: stream records in, EventBridge events out, dead letters to SQS
  platform_webhooks  the service's events POSTed, signed, to a platform off AWS: body,
              signature, retry schedule
  platform_receiver  the platform webhooks' adapters: the platform's URL (urllib3), the
              queue's backoff (SQS)
  redrive     the operator's re-drive: a window of outbox items published again, as written
  webhook_subscription  the operator's command: Dwolla's webhook subscription for /webhooks/dwolla
  runtime     the composition root: builds all of it once per container
  snapstart   SnapStart's hooks: nothing made before the snapshot outlives a restore
  web         the HTTP edge both handlers share: bodies, error answers, public JSON shapes
  pages       the customer-facing HTML pages (pure functions, a CSP nonce per page)
  page_assets the pages' fixed assets: icons, the style sheet, the small scripts
  inapp       in-app browsers and webviews, told from the User-Agent (one table of patterns)
"""
