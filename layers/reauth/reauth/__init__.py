"""The re-authentication domain: sessions that bring a customer's Dwolla exchange back to life.

Modules, from the outside in:
  config      the one configuration object, built once per cold start from the environment
  errors      every error a caller can see (stable code, HTTP status, message) and Dwolla's mapping
  model       sessions, exchange records and the one table of allowed state transitions
  security    start keys, browser binding cookies, the return-URL allow-list
  dwolla      the Dwolla API adapter (urllib3)
  repository  the DynamoDB adapter
  events      the EventBridge adapter
  secrets     the Secrets Manager / SSM adapter
  service     the use cases the two functions call
"""
