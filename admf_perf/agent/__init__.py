"""The per-host agent: reports psutil metrics into Redis and acts on memory pressure.

- :mod:`~admf_perf.agent.metrics`  ``HostSampler``: one host's psutil snapshot
- :mod:`~admf_perf.agent.policy`   ``Policy``: thresholds and ordered patterns (TOML)
- :mod:`~admf_perf.agent.pressure` ``Responder``: release, invalidate in order, record
- :mod:`~admf_perf.agent.lease`    ``Lease``: one agent invalidates at a time
- :mod:`~admf_perf.agent.records`  the Redis keys, and reading them back (CLI, tools)
- :mod:`~admf_perf.agent.exporter` the optional Prometheus endpoint
- :mod:`~admf_perf.agent.agent`    ``Agent``: the loop that ties them together
"""

from admf_perf.agent.agent import Agent
from admf_perf.agent.metrics import HostSampler
from admf_perf.agent.policy import Policy, load_policy
from admf_perf.agent.records import read_events, read_history, read_hosts, read_queues

__all__ = [
    "Agent",
    "HostSampler",
    "Policy",
    "load_policy",
    "read_events",
    "read_history",
    "read_hosts",
    "read_queues",
]
