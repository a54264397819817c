"""The served connector answers as propeller expects: metadata, idempotent create, poll, abort."""

from __future__ import annotations

from flyteidl.core.execution_pb2 import TaskExecution

from kube_emulator import wait_until
from reliability.conftest import Served
from reliability.harness import NAMESPACE, PARALLEL_JOBS, create_request, parallel_jobs, set_status


def test_list_agents_names_both_task_types(served: Served):
    agents = served.client.list_agents().agents
    categories = {(c.name, c.version) for agent in agents for c in agent.supported_task_categories}
    assert ("parallel_job", 1) in categories
    assert ("custom_resource", 1) in categories


def test_create_twice_poll_to_success_delete_twice(served: Served):
    run = served.client.start_task(create_request(execution="flow-ok"))
    objects = [o for o in parallel_jobs(served.api) if "flow-ok" in o["metadata"]["name"]]
    assert len(objects) == 1, "two CreateTasks for one attempt must make one object"
    name = objects[0]["metadata"]["name"]
    assert served.client.get("parallel_job", run.resource_meta).phase == TaskExecution.QUEUED
    set_status(served.api, name, "Running")
    running = served.client.poll_until_phase(run, TaskExecution.RUNNING)
    assert "2/2 workers running" in running.message
    set_status(served.api, name, "Succeeded")
    done = served.client.poll_until_terminal(run)
    assert done.phase == TaskExecution.SUCCEEDED
    served.client.abort(run)
    wait_until(lambda: served.api.get(PARALLEL_JOBS, name, NAMESPACE) is None, timeout=30)
    # After the abort the task still answers its last truth, and deleting again is harmless.
    assert served.client.get("parallel_job", run.resource_meta).phase == TaskExecution.SUCCEEDED
    served.client.delete("parallel_job", run.resource_meta)


def test_abort_while_running_deletes_the_object(served: Served):
    run = served.client.start_task(create_request(execution="flow-abort"))
    name = next(o["metadata"]["name"] for o in parallel_jobs(served.api) if "flow-abort" in o["metadata"]["name"])
    set_status(served.api, name, "Running")
    served.client.poll_until_phase(run, TaskExecution.RUNNING)
    served.client.abort(run)
    wait_until(lambda: served.api.get(PARALLEL_JOBS, name, NAMESPACE) is None, timeout=30)
