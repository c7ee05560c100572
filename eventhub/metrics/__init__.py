"""Metrics (R13): what the database knows, read at scrape time, plus each process's own.

Workers are prefork pools that come and go, so a counter kept in a worker's memory is wrong
(one registry per pool process, lost at every restart). The Attempt, Delivery and Event rows
already are the record of every outcome, written in the same transactions that decide it:
``readings`` counts them at scrape time, so the totals are correct across any number of
processes and restarts by construction, and there is no hook in the delivery hot path.
What only a process knows (HTTP requests of each web process) comes from the OpenTelemetry
instrumentation through each process's own meter provider (``meters``).

- ``readings``: the database families (``attempt_tally`` counts attempts incrementally);
- ``exposition``: the Prometheus text format; ``families``: what a family is;
- ``meters``: each process's meter provider; ``pushed``: the readings over OTLP (relay);
- ``views``: ``GET /metrics``, for staff or the bearer token.
"""
