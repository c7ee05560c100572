"""Development and benchmark tooling: the one-machine launcher, the benchmark, load generation.

Kept apart from the runtime (``eventhub.bus``, ``eventhub.dashboard``, the project
configuration): nothing the running system serves imports this package. Its management
commands (``runstack``, ``eventhub_bench``, ``eventhub_bench_dashboard``, ``eventhub_burst``)
stay in ``eventhub/management/commands/`` where Django finds them, as argument parsing and
one call into here.
"""
