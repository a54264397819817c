"""The embedded cluster: the Kubernetes API emulator, the example operator, the local kubelet and
the connector on one machine, for the demo, local runs and the conformance suite.

See docs/kube-emulator.md.
"""
