"""The gRPC side: CreateTask and GetTask calls with bounded concurrency, timed per call."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl.service.agent_pb2_grpc import AsyncAgentServiceStub

Request = TypeVar("Request")
Response = TypeVar("Response")
_CALL_TIMEOUT_SECONDS = 60.0


@dataclass
class Calls:
    """Per-call latencies (seconds) of one batch of calls, and its wall time."""

    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0

    def extend(self, other: Calls) -> None:
        self.latencies.extend(other.latencies)
        self.wall_seconds += other.wall_seconds


async def _timed_batch(
    requests: Sequence[Request], call: Callable[[Request], Awaitable[Response]], concurrency: int
) -> tuple[list[Response], Calls]:
    """Send every request with at most ``concurrency`` in flight (like propeller's workers)."""
    responses: list[Response | None] = [None] * len(requests)
    latencies = [0.0] * len(requests)
    next_index = iter(range(len(requests)))

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter()
            responses[index] = await call(requests[index])
            latencies[index] = time.perf_counter() - started

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [response for response in responses if response is not None], Calls(latencies, time.perf_counter() - started)


async def create_tasks(
    stub: AsyncAgentServiceStub, requests: Sequence[agent_pb2.CreateTaskRequest], concurrency: int
) -> tuple[list[bytes], Calls]:
    async def call(request: agent_pb2.CreateTaskRequest) -> agent_pb2.CreateTaskResponse:
        return await stub.CreateTask(request, timeout=_CALL_TIMEOUT_SECONDS)

    responses, calls = await _timed_batch(requests, call, concurrency)
    return [response.resource_meta for response in responses], calls


async def get_tasks(
    stub: AsyncAgentServiceStub, requests: Sequence[agent_pb2.GetTaskRequest], concurrency: int
) -> tuple[Counter[str], Calls]:
    """One GetTask per request; the phases answered, by name."""

    async def call(request: agent_pb2.GetTaskRequest) -> agent_pb2.GetTaskResponse:
        return await stub.GetTask(request, timeout=_CALL_TIMEOUT_SECONDS)

    responses, calls = await _timed_batch(requests, call, concurrency)
    phases = Counter(TaskExecution.Phase.Name(response.resource.phase) for response in responses)
    return phases, calls


async def poll_rounds(
    stub: AsyncAgentServiceStub,
    requests: Sequence[agent_pb2.GetTaskRequest],
    concurrency: int,
    rounds: int,
    interval_seconds: float,
) -> tuple[Counter[str], Calls]:
    """GetTask for every task, ``rounds`` times, a round starting every ``interval_seconds``
    (or at once when the previous round took longer)."""
    phases: Counter[str] = Counter()
    total = Calls()
    for round_index in range(rounds):
        started = time.perf_counter()
        round_phases, calls = await get_tasks(stub, requests, concurrency)
        phases.update(round_phases)
        total.extend(calls)
        if round_index + 1 < rounds:
            await asyncio.sleep(max(0.0, interval_seconds - (time.perf_counter() - started)))
    return phases, total


async def paced_round(
    stub: AsyncAgentServiceStub, requests: Sequence[agent_pb2.GetTaskRequest], rate: float, concurrency: int
) -> Calls:
    """GetTask calls started at a fixed ``rate`` (open loop), at most ``concurrency`` in flight.

    Each latency counts from the moment the call was due, so waiting for a free slot when the
    connector falls behind is part of it (no coordinated omission)."""
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def call(request: agent_pb2.GetTaskRequest, due: float) -> None:
        try:
            await stub.GetTask(request, timeout=_CALL_TIMEOUT_SECONDS)
            latencies.append(time.perf_counter() - due)
        finally:
            slots.release()

    started = time.perf_counter()
    pending: list[asyncio.Task[None]] = []
    for index, request in enumerate(requests):
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await slots.acquire()
        pending.append(asyncio.create_task(call(request, due)))
    await asyncio.gather(*pending)
    return Calls(latencies, time.perf_counter() - started)


def percentile_ms(latencies: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of latencies in seconds, in milliseconds."""
    ordered = sorted(latencies)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered))) - 1))
    return round(ordered[rank] * 1000, 3)


@dataclass(frozen=True)
class Answer:
    """One GetTask: when it was sent (seconds on the caller's perf_counter), how long it took,
    the phase answered and the message."""

    sent: float
    seconds: float
    phase: str
    message: str


async def get_until(
    stub: AsyncAgentServiceStub, requests: Sequence[agent_pb2.GetTaskRequest], concurrency: int, until: float
) -> list[Answer]:
    """GetTask over ``requests`` in turn, ``concurrency`` in flight back to back, until the
    perf_counter reaches ``until``. A call that fails counts with phase ``ERROR`` (and its code)."""
    answers: list[Answer] = []
    turns = iter(range(10**12))

    async def worker() -> None:
        for turn in turns:
            sent = time.perf_counter()
            if sent >= until:
                return
            try:
                response = await stub.GetTask(requests[turn % len(requests)], timeout=_CALL_TIMEOUT_SECONDS)
                phase, message = TaskExecution.Phase.Name(response.resource.phase), response.resource.message
            except grpc.aio.AioRpcError as error:
                phase, message = "ERROR", f"{error.code().name}: {error.details()}"
            answers.append(Answer(sent, time.perf_counter() - sent, phase, message))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers
