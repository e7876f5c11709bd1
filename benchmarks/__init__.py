"""`make bench`: the product's functions measured next to a baseline written for the benchmark.

    python -m benchmarks.run [--cold-runs 10] [--warm 500] [--discovery 100] [--threads 8] ...

Modules:
  run          the command: starts the local servers, runs every measurement, prints the table,
               writes benchmarks/results.json and the results section of benchmarks/README.md
  stack        moto server + the Dwolla sandbox on 127.0.0.1 (local/servers.py), the AWS resources
               (local/provision.py), the functions' environment
  container    one function in a fresh Python process (a Lambda container): spawn, invoke, RSS
  worker       the script such a process runs (stdlib only until the handler is imported)
  instrument   counts AWS calls (botocore `before-call`/`before-send`) and Dwolla requests
               (the urllib3 pool) inside a container
  flows        API Gateway events for create / open / start / callback / status, the relay's
               stream batch, and the checks of their answers
  concurrency  the whole create → open → start → bank → callback flow, N threads, S seconds
  build        the layer zip (layers/reauth/Makefile) and the function zips
  report       the table, results.json and the README section
  baseline/    the least code that does the same unavoidable I/O: boto3 + urllib3, no framework
"""
