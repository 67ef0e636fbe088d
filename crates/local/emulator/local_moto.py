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

Usage: python local_moto.py <address> <port>
"""

import json
import os
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
