"""A client built by another toolchain: Python grpcio with stubs that
grpc_tools generated from our proto files. Calls the collector and prints
what it saw as one JSON object.

    /usr/bin/python3 python_client.py TARGET STUBS_DIR
"""
import json
import os
import platform
import socket
import sys
import uuid

sys.path.insert(0, sys.argv[2])

import grpc  # noqa: E402
from google.protobuf import json_format, struct_pb2, timestamp_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from oneiric.session.v1 import session_events_pb2, session_service_pb2, session_service_pb2_grpc  # noqa: E402


def start_event(pid=os.getpid()):
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    metadata = struct_pb2.Struct()
    metadata.update({"interop": "python", "nested": {"n": 1.5, "list": [1, "two", None, True]}})
    return session_events_pb2.SessionStartEvent(
        event_version="1.0",
        event_id=str(uuid.uuid4()),
        event_type="session_start",
        component_name="python-interop",
        shell_type="PythonShell",
        timestamp=now,
        pid=pid,
        user=session_events_pb2.UserInfo(username="py", home="/home/py"),
        hostname=socket.gethostname(),
        environment=session_events_pb2.EnvironmentInfo(
            python_version=platform.python_version(), platform=platform.platform(), cwd=os.getcwd()[:500]
        ),
        metadata=metadata,
    )


def violations(error):
    """google.rpc.BadRequest field violations from the grpc-status-details-bin trailer."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            out = []
            for detail in status.details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    out += [{"field": v.field, "reason": v.reason} for v in bad.field_violations]
            return out
    return []


def main():
    target = sys.argv[1]
    report = {}
    with grpc.insecure_channel(target) as channel:
        stub = session_service_pb2_grpc.SessionServiceStub(channel)
        event = start_event()
        first = stub.EmitSessionStart(session_service_pb2.EmitSessionStartRequest(event=event), timeout=10)
        again = stub.EmitSessionStart(session_service_pb2.EmitSessionStartRequest(event=event), timeout=10)
        report["session_id"] = first.session_id
        report["statuses"] = [first.status, again.status]
        report["same_id"] = first.session_id == again.session_id

        end_ts = timestamp_pb2.Timestamp()
        end_ts.GetCurrentTime()
        end = session_events_pb2.SessionEndEvent(
            event_version="1.0", event_type="session_end", session_id=first.session_id, timestamp=end_ts
        )
        ended = stub.EmitSessionEnd(session_service_pb2.EmitSessionEndRequest(event=end), timeout=10)
        report["end_status"] = ended.status

        got = stub.GetSession(session_service_pb2.GetSessionRequest(session_id=first.session_id), timeout=10)
        report["status_enum"] = session_service_pb2.SessionStatus.Name(got.session.status)
        report["python_version_stored"] = got.session.start.environment.python_version
        report["metadata_roundtrip"] = json_format.MessageToDict(got.session.start.metadata)

        bad = start_event(pid=0)
        bad.component_name = "not valid"
        try:
            stub.EmitSessionStart(session_service_pb2.EmitSessionStartRequest(event=bad), timeout=10)
            report["invalid"] = "accepted"
        except grpc.RpcError as error:
            report["invalid"] = {"code": error.code().name, "violations": violations(error)}
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
