"""The ``leaderElection`` settings: which Lease elects the one replica that sweeps, and its timing.

Kept apart from :mod:`leader_election` so :mod:`settings` can import it without a cycle
(the elector needs the API client, which needs the settings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from k8s_operator_connector.settings_reader import SettingsError, SettingsReader

DEFAULT_LEASE_NAME = "flyte-k8s-operator-connector-sweeper"
#: client-go's JitterFactor: retries are spread over [retryPeriod, 1.2 retryPeriod].
JITTER_FACTOR = 1.2
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class LeaderElectionSettings:
    lease_name: str = DEFAULT_LEASE_NAME
    #: Empty: the namespace the connector runs in (its service account's), else ``defaultNamespace``.
    lease_namespace: str = ""
    # client-go's (and kube-controller-manager's) defaults.
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0


def parse_leader_election(reader: SettingsReader) -> LeaderElectionSettings:
    defaults = LeaderElectionSettings()
    name = reader.get("leaseName", str, defaults.lease_name)
    if not _DNS_SUBDOMAIN.fullmatch(name):
        raise SettingsError(f"{reader.path('leaseName')} must be a DNS-1123 subdomain (a Lease name), got {name!r}")
    namespace = reader.get("leaseNamespace", str, "")
    if namespace and not _DNS_LABEL.fullmatch(namespace):
        raise SettingsError(
            f"{reader.path('leaseNamespace')} must be a DNS-1123 label (a namespace), got {namespace!r}"
        )
    settings = LeaderElectionSettings(
        lease_name=name,
        lease_namespace=namespace,
        lease_duration_seconds=reader.number("leaseDurationSeconds", defaults.lease_duration_seconds, 1, integer=True),
        renew_deadline_seconds=reader.number("renewDeadlineSeconds", defaults.renew_deadline_seconds, 0.1),
        retry_period_seconds=reader.number("retryPeriodSeconds", defaults.retry_period_seconds, 0.05),
    )
    # client-go's NewLeaderElector checks, so a leader always stops before another may start.
    if settings.lease_duration_seconds <= settings.renew_deadline_seconds:
        raise SettingsError(
            f"{reader.path('leaseDurationSeconds')} ({settings.lease_duration_seconds}) must be greater than "
            f"{reader.path('renewDeadlineSeconds')} ({settings.renew_deadline_seconds})"
        )
    if settings.renew_deadline_seconds <= JITTER_FACTOR * settings.retry_period_seconds:
        raise SettingsError(
            f"{reader.path('renewDeadlineSeconds')} ({settings.renew_deadline_seconds}) must be greater than "
            f"{JITTER_FACTOR} x {reader.path('retryPeriodSeconds')} ({settings.retry_period_seconds})"
        )
    reader.finish()
    return settings
