#!/usr/bin/env python3
"""A third-party bledfu client: written against the code `protoc` generates from proto/ alone.

It imports nothing of the bledfu repository but the modules protoc and grpc_python_plugin
generated from the .proto files (put their output directory on PYTHONPATH), and grpc and
protobuf. Usage:

    client.py ADDRESS dfu PACKAGE NAME       update the device NAME with the package file
    client.py ADDRESS cancel PACKAGE NAME    start a DFU, cancel it at its first event
    client.py ADDRESS errors JOB_ID PACKAGE  make calls that fail, each for its own reason
                                             (JOB_ID: a job without an HCI capture)

It prints one JSON object per line: each event of a job's stream, the job's end, and for each
failed call what its status carried (decoded as service.proto and ErrorDetail in common.proto
describe: the `grpc-status-details-bin` trailer is a google.rpc.Status whose details hold a
google.rpc.ErrorInfo and a bledfu.v1.ErrorDetail).
"""
import json
import sys

import grpc

from bledfu.v1 import common_pb2, dfu_pb2, scan_pb2, service_pb2_grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def emit(record):
    print(json.dumps(record, sort_keys=True), flush=True)


def message_fields(message):
    """Every field of a flat message, defaults included (enum values by name)."""
    out = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.enum_type is not None:
            value = field.enum_type.values_by_number[value].name
        out[field.name] = value
    return out


def decode_status(error):
    """What a failed call's status says, decoded from its trailer with the generated messages."""
    decoded = {"grpc_code": error.code().name, "grpc_message": error.details(), "detail_types": []}
    raw = dict(error.trailing_metadata() or ()).get(STATUS_DETAILS_KEY)
    if raw is None:
        return decoded
    status = status_pb2.Status.FromString(raw)
    decoded["status_code"] = status.code
    decoded["status_message"] = status.message
    for detail in status.details:
        # A type URL is "<host>/<full message name>": only the name counts.
        name = detail.type_url.rsplit("/", 1)[-1]
        decoded["detail_types"].append(name)
        if name == error_details_pb2.ErrorInfo.DESCRIPTOR.full_name:
            info = error_details_pb2.ErrorInfo.FromString(detail.value)
            decoded["info"] = {"reason": info.reason, "domain": info.domain, "metadata": dict(info.metadata)}
        elif name == common_pb2.ErrorDetail.DESCRIPTOR.full_name:
            decoded["detail"] = message_fields(common_pb2.ErrorDetail.FromString(detail.value))
    return decoded


def event_record(event):
    kind = event.WhichOneof("kind")
    record = {"event": kind, "job_id": event.job_id}
    if kind == "snapshot":
        record["state"] = dfu_pb2.JobState.Name(event.snapshot.state)
    elif kind == "state_changed":
        record["state"] = dfu_pb2.JobState.Name(event.state_changed.state)
    elif kind == "progress":
        record["image_bytes_sent"] = event.progress.image_bytes_sent
        record["image_bytes_total"] = event.progress.image_bytes_total
    elif kind == "finished":
        result = event.finished
        record["success"] = result.success
        record["firmware_revision"] = result.firmware_revision
        record["error"] = message_fields(result.error) if result.HasField("error") else None
        record["state"] = dfu_pb2.JobState.Name(result.state)
        # What a call failing with the job's error would carry: its status and ErrorInfo metadata.
        record["error_status"] = result.error_status
        record["error_metadata"] = dict(result.error_metadata)
        record["cancel_cause"] = dfu_pb2.CancelCause.Name(result.cancel_cause)
    return record


def follow(stub, events, on_first=None):
    """Prints a job's events, then how the stream ended (OK, or the status and its details)."""
    try:
        for response in events:
            record = event_record(response.event)
            emit(record)
            if on_first is not None:
                on_first(record)
                on_first = None
        emit({"end": "OK"})
    except grpc.RpcError as error:
        emit({"end": "error", "status": decode_status(error)})


def start(stub, package, name):
    with open(package, "rb") as f:
        data = f.read()
    target = common_pb2.Target(name=name)
    options = dfu_pb2.DfuOptions(scan_timeout=duration_pb2.Duration(seconds=5))
    return stub.StartDfu(dfu_pb2.StartDfuRequest(package_data=data, target=target, options=options))


def run_dfu(stub, package, name):
    job_id = []
    follow(stub, start(stub, package, name), lambda first: job_id.append(first["job_id"]))
    job = stub.GetJob(dfu_pb2.GetJobRequest(job_id=job_id[0])).job
    emit({"job": job.job_id, "state": dfu_pb2.JobState.Name(job.state)})


def run_cancel(stub, package, name):
    def cancel(first):
        stub.CancelJob(dfu_pb2.CancelJobRequest(job_id=first["job_id"]))
        emit({"cancel_requested": first["job_id"]})

    follow(stub, start(stub, package, name), cancel)


def failing_calls(stub, job_id, package):
    """Calls that fail, each for the reason its name says."""
    target = common_pb2.Target(name="bledfu-sim-1")
    short_scan = dfu_pb2.DfuOptions(scan_timeout=duration_pb2.Duration(nanos=500_000_000))
    yield "JOB_NOT_FOUND", lambda: stub.GetJob(dfu_pb2.GetJobRequest(job_id="no-such-job"))
    yield "INVALID_ARGUMENT", lambda: stub.GetJob(dfu_pb2.GetJobRequest(job_id=""))
    yield "PACKAGE_INVALID", lambda: list(stub.StartDfu(dfu_pb2.StartDfuRequest(package_data=b"not a zip", target=target)))
    yield "PACKAGE_NOT_FOUND", lambda: list(stub.StartDfu(dfu_pb2.StartDfuRequest(package_id="0" * 64, target=target)))
    yield "ADAPTER_NOT_FOUND", lambda: list(stub.Scan(scan_pb2.ScanRequest(adapter_id="no-such-adapter")))
    yield "CAPTURE_NOT_FOUND", lambda: list(stub.GetJobCapture(dfu_pb2.GetJobCaptureRequest(job_id=job_id)))
    # An option beyond its bound is refused before a job exists.
    yield "INVALID_ARGUMENT", lambda: list(stub.StartDfu(dfu_pb2.StartDfuRequest(
        package_id="0" * 64, target=target, options=dfu_pb2.DfuOptions(retries=1000))))


def run_not_found(stub, package):
    """A job that fails (its device never advertises): the outcome is in `finished`, the stream ends OK."""
    with open(package, "rb") as f:
        data = f.read()
    short_scan = dfu_pb2.DfuOptions(scan_timeout=duration_pb2.Duration(nanos=500_000_000))
    follow(stub, stub.StartDfu(dfu_pb2.StartDfuRequest(
        package_data=data, target=common_pb2.Target(name="no-such-device"), options=short_scan)))


def run_errors(stub, job_id, package):
    for reason, call in failing_calls(stub, job_id, package):
        try:
            call()
            emit({"case": reason, "status": None})
        except grpc.RpcError as error:
            emit({"case": reason, "status": decode_status(error)})


def main(argv):
    address, scenario, *args = argv
    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.BledfuServiceStub(channel)
        if scenario == "dfu":
            run_dfu(stub, *args)
        elif scenario == "cancel":
            run_cancel(stub, *args)
        elif scenario == "errors":
            run_errors(stub, *args)
        elif scenario == "not-found":
            run_not_found(stub, *args)
        else:
            raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main(sys.argv[1:])
