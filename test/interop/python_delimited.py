"""Length-delimited protobuf files as Python writes and reads them (the
varint framing of writeDelimitedTo / _VarintBytes), for the archive interop test.

  python_delimited.py write OUT_DIR      writes vrp.bin (bare VrpEvents) and log.bin (LogEntry)
  python_delimited.py read FILE          reads bare VrpEvents, prints them as JSON lines
"""
import json
import sys

from google.protobuf import json_format
from google.protobuf.internal.decoder import _DecodeVarint32
from google.protobuf.internal.encoder import _VarintBytes

sys.path.insert(0, sys.argv[-1] if sys.argv[1] == "read" else sys.argv[2])
from vrp.v1alpha1 import vrp_event_pb2  # noqa: E402
from sessionevents.log.v1 import log_entry_pb2  # noqa: E402


def delimited(messages):
    return b"".join(_VarintBytes(len(b)) + b for b in (m.SerializeToString() for m in messages))


def write(out):
    events = []
    for i in range(3):
        e = vrp_event_pb2.VrpEvent(ts_ms=1700000000000 + i, event_type="PATH_SELECTED", session_id="py-1", node_id="node-py")
        e.details.update({"transport_id": f"udp/{i}", "rtt_ms": 12.5})
        events.append(e)
    with open(f"{out}/vrp.bin", "wb") as f:
        f.write(delimited(events))
    entry = log_entry_pb2.LogEntry()
    entry.received_at.FromJsonString("2026-11-22T01:02:03.004Z")
    start = entry.session_started
    start.session_id = "sess_python"
    ev = start.event
    ev.event_version, ev.event_id, ev.event_type = "1.0", "550e8400-e29b-41d4-a716-446655440000", "session_start"
    ev.component_name, ev.shell_type, ev.pid, ev.hostname = "python-writer", "PyShell", 4242, "py-host"
    ev.timestamp.FromJsonString("2026-11-22T01:02:03.123456Z")
    ev.user.username, ev.user.home = "py", "/home/py"
    ev.environment.python_version, ev.environment.platform, ev.environment.cwd = "3.11.2", "Linux", "/srv"
    ev.metadata.update({"writer": "python", "nested": {"n": 1}})
    with open(f"{out}/log.bin", "wb") as f:
        f.write(delimited([entry]))


def read(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        size, pos = _DecodeVarint32(data, pos)
        event = vrp_event_pb2.VrpEvent()
        event.ParseFromString(data[pos:pos + size])
        pos += size
        fields = json_format.MessageToDict(event, preserving_proto_field_name=True)
        fields["ts_ms"] = int(fields["ts_ms"])  # proto JSON writes int64 as a string; the contract, as a number
        print(json.dumps(fields, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read(sys.argv[2])
