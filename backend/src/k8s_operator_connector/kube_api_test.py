import calendar

import pytest

from k8s_operator_connector.kube_api import timestamp_seconds

_MOMENT = calendar.timegm((2026, 11, 30, 7, 24, 8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The API server writes RFC 3339 in UTC with a "Z" (metav1.Time) or with microseconds (MicroTime).
        ("2026-11-30T07:24:08Z", _MOMENT),
        ("2026-11-30T07:24:08.250000Z", _MOMENT + 0.25),
        ("2026-11-30T09:24:08+02:00", _MOMENT),
        ("2026-11-30T07:24:08", _MOMENT),  # no zone: taken as UTC
    ],
)
def test_api_timestamps_become_unix_seconds(value: str, expected: float) -> None:
    assert timestamp_seconds(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [None, "", "yesterday", 1700000000, "2026-13-40T00:00:00Z"])
def test_what_is_not_a_timestamp_is_zero(value: object) -> None:
    assert timestamp_seconds(value) == 0.0
