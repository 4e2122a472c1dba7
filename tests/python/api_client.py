"""A controller's client of gracewire's control API, written with nothing but grpcio and the
repo's proto: stubs are generated at run time with grpcio-tools, as a user outside this repo
would. tests/tests/python_client.rs runs it one step at a time and checks FRR between steps.

    api_client.py SOCKET STUBS stubs                       generate the stubs into STUBS
    api_client.py SOCKET STUBS set|add SOURCE NH PREFIX... SetAnnouncements / AddAnnouncements
    api_client.py SOCKET STUBS delete SOURCE PREFIX...     DeleteAnnouncements
    api_client.py SOCKET STUBS list                        ListAnnouncements, as JSON
    api_client.py SOCKET STUBS neighbors                   ListNeighbors, as JSON
    api_client.py SOCKET STUBS watch                       WatchEvents: one JSON line per event
    api_client.py SOCKET STUBS malformed                   bytes that do not decode, as a call

A refused call prints `CODE: details` on stdout and exits 3.
"""

import json
import os
import sys


def generate(stubs):
    from grpc_tools import protoc

    root = os.path.join(os.path.dirname(__file__), "..", "..", "proto")
    os.makedirs(stubs, exist_ok=True)
    rc = protoc.main(["grpc_tools.protoc", "-I" + root, "--python_out=" + stubs,
                      "--grpc_python_out=" + stubs,
                      os.path.join(root, "gracewire", "v1", "control.proto")])
    if rc != 0:
        sys.exit("protoc failed: %d" % rc)


def main():
    socket, stubs, command, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if command == "stubs":
        return generate(stubs)
    sys.path.insert(0, stubs)
    import grpc
    from google.protobuf import json_format
    from gracewire.v1 import control_pb2 as pb, control_pb2_grpc as rpc

    # grpc-core sends the socket path as the HTTP/2 :authority unless told otherwise, and
    # that is not a valid authority.
    channel = grpc.insecure_channel("unix://" + socket,
                                    options=[("grpc.default_authority", "localhost")])
    api = rpc.ControlStub(channel)

    def show(message):
        print(json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True)),
              flush=True)

    try:
        if command in ("set", "add"):
            source, next_hop, prefixes = args[0], args[1], args[2:]
            change = pb.AnnouncementsChange(source=source, announcements=[
                pb.Announcement(prefix=p, next_hop=next_hop, communities=["64512:27"])
                for p in prefixes])
            call = api.SetAnnouncements if command == "set" else api.AddAnnouncements
            print(call(change, timeout=30).message)
        elif command == "delete":
            request = pb.DeleteAnnouncementsRequest(source=args[0], prefixes=args[1:])
            print(api.DeleteAnnouncements(request, timeout=30).message)
        elif command == "list":
            show(api.ListAnnouncements(pb.ListAnnouncementsRequest(), timeout=30))
        elif command == "neighbors":
            show(api.ListNeighbors(pb.ListNeighborsRequest(), timeout=30))
        elif command == "malformed":
            # Bytes that are no AddAnnouncements request: a length past the end.
            raw = channel.unary_unary("/gracewire.v1.Control/AddAnnouncements",
                                      request_serializer=lambda b: b,
                                      response_deserializer=pb.Done.FromString)
            raw(b"\x12\x7f\x01", timeout=30)
        elif command == "watch":
            for event in api.WatchEvents(pb.WatchEventsRequest()):
                show(event)
        else:
            sys.exit("unknown command " + command)
    except grpc.RpcError as e:
        print("%s: %s" % (e.code().name, e.details()), flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
