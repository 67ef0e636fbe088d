"""The AWS emulator of `idealstack local`: moto server with every named gap idealstack's tests fill.

It imports the two gap modules (the deploy lifecycle's CloudFormation gaps, moto_cfn.py, and the
agent's, agent_gaps.py: each documents its gaps) so that one emulator serves the deployer, the
agent and the local cluster alike. It changes only the emulator, never what idealstack sends.

Named gap filled here (the others are in the two modules):

L1. CLOUDWATCH CBOR: the AWS SDK for Rust speaks CloudWatch's Smithy RPC v2 CBOR protocol
   (`POST /service/GraniteServiceVersion20100801/operation/<Operation>`, `smithy-protocol:
   rpc-v2-cbor`), which moto does not serve, so the agent's GetMetricData fails and its whole
   pass with it. Filled: GetMetricData answers with no data points (no request-rate metrics in
   the emulator: the agent then holds each site at its current count); other CBOR operations
   answer an explicit error.

L2. EFS ACCESS POINT NUMBERS: an AWS::EFS::AccessPoint created by CloudFormation keeps its
   `PosixUser` and `CreationInfo` ids as the template's strings ("20000") and an absent PosixUser
   as `{}`, so DescribeAccessPoints answers strings where EFS answers numbers and every SDK
   refuses the whole answer. Filled: ids are numbers, and an empty PosixUser is left out.

L3. SENT MAIL: moto's model dump (`/moto-api/data.json`) answers 500 once a cluster's resources
   exist (some model does not serialise), so what SES received cannot be read back. Filled:
   `GET /moto-api/ses/raw-messages` answers the raw messages SES received, as JSON
   (`[{"source", "destinations", "raw"}]`): the emulator's outbox, for the developer and the
   tests.

L4. RUNTASK WITHOUT CONTAINER INSTANCES: moto places a RunTask of an EC2 cluster only on
   registered container instances (on AWS, each instance's ECS agent registers itself), and
   fails the call when there are none. In `local` no instance registers (the machine is the one
   instance, and a registered one would show to the agent as an instance outside its group).
   Filled: such a task is placed on no instance, as moto places Fargate tasks; `local` runs it.

L5. TASK LIFECYCLE AND EXIT CODES: moto moves a task one status further on every read (RUNNING,
   DEACTIVATING, ... STOPPED after four DescribeTasks, whatever runs), its containers always
   report `exitCode` 0 and stay PENDING, and StopTask records only a reason. On AWS a task is
   RUNNING until its essential container exits, and the ECS agent reports each container's
   exit. Filled: a task's status moves only when it is stopped; when `local` (the stand-in for
   the ECS agent) stops a one-off task with the reason "Essential container in task exited
   (exit code N)", its containers report STOPPED and exit code N, as DescribeTasks shows them on
   AWS (what `idealstack run` returns).

Usage: python local_moto.py <address> <port>
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_cfn  # noqa: E402,F401  (patches moto on import)
import agent_gaps  # noqa: E402,F401

from werkzeug.serving import run_simple  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from moto.efs import models as efs_models  # noqa: E402

_efs_info_json = efs_models.AccessPoint.info_json


def _numbers(d, keys):
    out = dict(d or {})
    for k in keys:
        if isinstance(out.get(k), str) and out[k].isdigit():
            out[k] = int(out[k])
    if isinstance(out.get("SecondaryGids"), list):
        out["SecondaryGids"] = [int(g) if isinstance(g, str) and g.isdigit() else g for g in out["SecondaryGids"]]
    return out


def efs_info_json(self):
    info = _efs_info_json(self)
    posix = _numbers(info.get("PosixUser"), ("Uid", "Gid"))
    if posix:
        info["PosixUser"] = posix
    else:
        info.pop("PosixUser", None)
    root = dict(info.get("RootDirectory") or {})
    if root.get("CreationInfo"):
        root["CreationInfo"] = _numbers(root["CreationInfo"], ("OwnerUid", "OwnerGid"))
    info["RootDirectory"] = root
    return info


efs_models.AccessPoint.info_json = efs_info_json

from moto.ecs import models as ecs_models  # noqa: E402
from moto.moto_api import state_manager  # noqa: E402

_run_task = ecs_models.EC2ContainerServiceBackend.run_task
_stop_task = ecs_models.EC2ContainerServiceBackend.stop_task


def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
             networking_configuration=None, group=None, platform_version=None,
             capacity_provider_strategy=None):
    cluster = self._get_cluster(cluster_str)
    if self.container_instances.get(cluster.name) or launch_type == "FARGATE":
        return _run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags,
                         launch_type, networking_configuration, group, platform_version,
                         capacity_provider_strategy)
    task_definition = self.describe_task_definition(task_definition_str)
    strategy = capacity_provider_strategy or ([] if launch_type else cluster.default_capacity_provider_strategy)
    self.tasks.setdefault(cluster.name, {})
    tasks = []
    for _ in range(count):
        task = ecs_models.Task(
            cluster=cluster,
            task_definition=task_definition,
            container_instance_arn=None,
            # On no instance nothing is reserved (moto's own sizing also fails on a task whose
            # memory is set for the task, not per container).
            resource_requirements={"CPU": 0, "MEMORY": 0, "PORTS": [], "PORTS_UDP": []},
            backend=self,
            group=group or f"family:{task_definition.family}",
            overrides=overrides or {},
            started_by=started_by or "",
            tags=tags or [],
            launch_type=launch_type or "",
            networking_configuration=networking_configuration,
            platform_version=platform_version,
            capacity_provider_name=strategy[0]["capacityProvider"] if strategy else None,
        )
        tasks.append(task)
        self.tasks[cluster.name][task.task_arn] = task
    return tasks


EXITED = re.compile(r"^Essential container in task exited \(exit code (-?\d+)\)$")


def stop_task(self, cluster_str, task_str, reason):
    task = _stop_task(self, cluster_str, task_str, reason)
    exited = EXITED.match(reason or "")
    for container in task.containers:
        container.last_status = "STOPPED"
        if exited:
            container.exitCode = int(exited.group(1))
    return task


ecs_models.EC2ContainerServiceBackend.run_task = run_task
# A status moves a billion reads later: in practice only StopTask moves it.
state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
ecs_models.EC2ContainerServiceBackend.stop_task = stop_task

moto_app = DomainDispatcherApplication(create_backend_app)

CBOR_PREFIX = "/service/GraniteServiceVersion20100801/operation/"


def cbor_text(s):
    b = s.encode()
    assert len(b) < 24
    return bytes([0x60 + len(b)]) + b


def cbor_empty_metric_data():
    # {"MetricDataResults": [], "Messages": []}
    return bytes([0xA2]) + cbor_text("MetricDataResults") + bytes([0x80]) + cbor_text("Messages") + bytes([0x80])


def cbor_error(code):
    # {"__type": code}
    return bytes([0xA1]) + cbor_text("__type") + cbor_text(code)


def sent_raw_messages():
    from moto.ses.models import ses_backends

    out = []
    for account_id, regions in ses_backends.items():
        for region, backend in regions.items():
            for m in backend.sent_messages:
                raw = getattr(m, "raw_data", None)
                if raw is not None:
                    out.append({"region": region, "source": m.source, "destinations": m.destinations, "raw": raw})
    return out


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/moto-api/ses/raw-messages":
        body = json.dumps(sent_raw_messages()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path.startswith(CBOR_PREFIX):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        operation = path[len(CBOR_PREFIX):]
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        if operation == "GetMetricData":
            body = cbor_empty_metric_data()
            start_response("200 OK", headers + [("Content-Length", str(len(body)))])
        else:
            body = cbor_error("NotImplemented")
            start_response("400 Bad Request", headers + [("Content-Length", str(len(body)))])
        return [body]
    return moto_app(environ, start_response)


if __name__ == "__main__":
    run_simple(sys.argv[1], int(sys.argv[2]), app, threaded=True, request_handler=MotoRequestHandler)
