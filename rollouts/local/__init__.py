"""Real processes that stand in for the cluster's data plane on one machine.

Kubernetes pods in the test bed are fake (kwok), so the traffic they would serve comes from
real local processes instead: model servers (one per version, on loopback ports), a load
generator that splits requests as the route's weights say, and a Prometheus that scrapes them.
End-to-end tests and ``rollouts demo`` use these modules; the controller never imports them.
"""
