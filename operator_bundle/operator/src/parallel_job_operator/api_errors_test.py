import pytest
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ProtocolError

from parallel_job_operator.api_errors import backoff_seconds, describe, is_invalid_request, is_retryable


@pytest.mark.parametrize("status", [403, 409, 429, 500, 503, 504, 0])
def test_retryable_statuses(status):
    assert is_retryable(ApiException(status=status))


@pytest.mark.parametrize("status", [400, 404, 422])
def test_not_retryable(status):
    assert not is_retryable(ApiException(status=status))


def test_connection_failures_are_retryable():
    assert is_retryable(ProtocolError("reset"))
    assert is_retryable(ConnectionRefusedError())
    assert not is_retryable(ValueError())


def test_invalid_request():
    assert is_invalid_request(ApiException(status=422))
    assert not is_invalid_request(ApiException(status=500))


def test_backoff_doubles_and_caps():
    assert [backoff_seconds(r) for r in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_seconds(1000) == 60


def test_describe():
    error = ApiException(status=422, reason="Unprocessable Entity")
    error.body = b'{"message": "bad"}'
    assert describe(error) == 'API 422 Unprocessable Entity: {"message": "bad"}'
    assert describe(ValueError("x")) == "ValueError: x"
