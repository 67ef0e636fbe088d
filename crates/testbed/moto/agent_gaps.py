"""moto server with the gaps the idealstack agent's tests meet filled in the emulator.

Test support for crates/aws/tests/agent_moto.rs and crates/cli/tests/cli_agent.rs, started by
`idealstack_testbed::Moto::start_agent()`. It changes only the emulator, never what the agent
sends. Named gaps of moto 5.2.5 filled here (each exercised by crates/aws/tests/agent_moto.rs):

1. INSTANCE REFRESH: Auto Scaling's StartInstanceRefresh and DescribeInstanceRefreshes are not
   implemented (moto answers "not implemented"). Filled: a refresh is recorded per group with the
   Preferences and Strategy the caller sent, and DescribeInstanceRefreshes reports it
   `InProgress` (newest first); a second StartInstanceRefresh while one runs is refused with
   `InstanceRefreshInProgress`, as AWS does. The refresh does not replace instances.
2. SERVICE TASKS: ECS services launch no tasks in moto, and ListTasks ignores `serviceName` (it
   returns every task of the cluster). Filled: ListTasks with `serviceName` returns the tasks whose
   group is `service:<name>` (the group ECS gives a service's tasks). The tests place a service's
   tasks themselves with StartTask and that group, standing in for ECS's service scheduler.
   Also, ListTasks without `desiredStatus` returns stopped tasks too, where AWS defaults to
   `RUNNING`. Filled: the default is `RUNNING`.
3. AGENT DISCONNECT: a container instance's ECS agent is always connected in moto and nothing can
   disconnect it. Filled: ECS PutAttributes with the attribute `idealstack-moto.agent-connected`
   set to `false` on a container instance makes DescribeContainerInstances report
   `agentConnected: false` (the fault switch of the tests; real ECS never sees this attribute).
4. PHP HEALTH: moto reports every registered, running instance `healthy` in DescribeTargetHealth.
   Filled: an instance whose container instance carries the ECS attribute
   `idealstack-moto.php-health` = `failing` is reported `unhealthy` (Target.FailedHealthChecks).

Usage: python agent_gaps.py <port>
"""

import sys
import uuid

from werkzeug.serving import run_simple

from moto.autoscaling import responses as asg_responses
from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecs import models as ecs_models
from moto.elbv2 import models as elbv2_models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

DISCONNECT_ATTRIBUTE = "idealstack-moto.agent-connected"
HEALTH_ATTRIBUTE = "idealstack-moto.php-health"

# 1. INSTANCE REFRESH ------------------------------------------------------------------------

# (account, region, group) -> refreshes, newest first
REFRESHES = {}
RUNNING = ("Pending", "InProgress", "Cancelling", "RollbackInProgress")


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


def _refreshes(response, group_name):
    backend = response.autoscaling_backend
    if group_name not in backend.autoscaling_groups:
        raise ValidationError(f"AutoScalingGroup name not found - {group_name}")
    key = (response.current_account, response.region, group_name)
    return backend.autoscaling_groups[group_name], REFRESHES.setdefault(key, [])


def start_instance_refresh(self):
    group_name = self._get_param("AutoScalingGroupName")
    group, refreshes = _refreshes(self, group_name)
    if any(r["Status"] in RUNNING for r in refreshes):
        raise InstanceRefreshInProgress(
            f"An Instance Refresh is already in progress and blocks the execution of this Instance Refresh for {group_name}."
        )
    refresh_id = str(uuid.uuid4())
    refreshes.insert(
        0,
        {
            "InstanceRefreshId": refresh_id,
            "AutoScalingGroupName": group_name,
            "Status": "InProgress",
            "StatusReason": "Waiting for instances to warm up before continuing.",
            "StartTime": utcnow(),
            "PercentageComplete": 0,
            "InstancesToUpdate": len(group.instance_states),
            "Preferences": self._get_param("Preferences") or {},
            "Strategy": self._get_param("Strategy") or "Rolling",
        },
    )
    return ActionResult({"InstanceRefreshId": refresh_id})


def describe_instance_refreshes(self):
    group_name = self._get_param("AutoScalingGroupName")
    _, refreshes = _refreshes(self, group_name)
    wanted = self._get_param("InstanceRefreshIds") or []
    listed = [r for r in refreshes if not wanted or r["InstanceRefreshId"] in wanted]
    return ActionResult({"InstanceRefreshes": listed})


asg_responses.AutoScalingResponse.start_instance_refresh = start_instance_refresh
asg_responses.AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes

# 2. SERVICE TASKS ---------------------------------------------------------------------------

_list_tasks = ecs_models.EC2ContainerServiceBackend.list_tasks


def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None, service_name=None, desiredStatus=None):
    status = desiredStatus or "RUNNING"
    tasks = _list_tasks(self, cluster_str, container_instance, family, started_by, None, status)
    if service_name:
        group = "service:" + service_name.split("/")[-1]
        tasks = [t for t in tasks if getattr(t, "group", None) == group]
    return tasks


ecs_models.EC2ContainerServiceBackend.list_tasks = list_tasks

# 3. AGENT DISCONNECT ------------------------------------------------------------------------


def _agent_connected(self):
    return (getattr(self, "attributes", None) or {}).get(DISCONNECT_ATTRIBUTE) != "false"


# moto's __init__ assigns True; the setter ignores it so the attribute decides.
ecs_models.ContainerInstance.agent_connected = property(_agent_connected, lambda self, value: None)

# 4. PHP HEALTH ------------------------------------------------------------------------------

_health_for = elbv2_models.FakeTargetGroup.health_for


def health_for(self, target, ec2_backend):
    status = _health_for(self, target, ec2_backend)
    if status.status != "healthy":
        return status
    ecs = ecs_models.ecs_backends[ec2_backend.account_id][ec2_backend.region_name]
    for instances in ecs.container_instances.values():
        for ci in instances.values():
            if ci.ec2_instance_id == target["Id"] and ci.attributes.get(HEALTH_ATTRIBUTE) == "failing":
                return elbv2_models.FakeHealthStatus(
                    status.instance_id,
                    status.port,
                    status.health_check_port,
                    "unhealthy",
                    "Target.FailedHealthChecks",
                    "Health checks failed",
                )
    return status


elbv2_models.FakeTargetGroup.health_for = health_for

app = DomainDispatcherApplication(create_backend_app)

if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
