"""A channel to bledfud with its credentials, and generators over the streaming calls that turn
gRPC failures into BledfuError."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import grpc
from google.protobuf.duration_pb2 import Duration

from ._gen.bledfu.v1 import campaign_pb2, common_pb2, dfu_pb2, inventory_pb2, scan_pb2, service_pb2_grpc
from ._gen.bledfu_client import vendored_pb2
from .errors import BledfuError, error_from_rpc

DEFAULT_TARGET = "127.0.0.1:50051"
PathOrBytes = Union[str, "os.PathLike[str]", bytes]

# Bigger than one message may be (the server's request limit is 64 MiB by default); leave room.
_UPLOAD_CHUNK = 1 << 20


def _read(value: PathOrBytes) -> bytes:
    return value if isinstance(value, bytes) else Path(value).read_bytes()


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                   grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call.

    An interceptor rather than grpc.access_token_call_credentials because call credentials are
    refused on plaintext channels, and bledfud accepts tokens without TLS on a trusted network.
    """

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details.method, details.timeout, [*(details.metadata or ()), self._header],
                            details.credentials, details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):  # type: ignore[no-untyped-def]
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


class BledfuStub(service_pb2_grpc.BledfuServiceStub):
    """The generated bledfu.v1.BledfuService stub, plus the channel it owns (close it, or use
    the stub as a context manager)."""

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel)
        self.channel = channel

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "BledfuStub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(target: str = DEFAULT_TARGET, *, token: Optional[str] = None, ca: Optional[PathOrBytes] = None,
            cert: Optional[PathOrBytes] = None, key: Optional[PathOrBytes] = None,
            options: Sequence[Tuple[str, object]] = ()) -> BledfuStub:
    """Opens a channel to bledfud at `target` ("host:port").

    `ca` (a PEM file path or its bytes) turns on TLS and is the only CA trusted for the server;
    `cert` and `key` add a client certificate for mutual TLS. `token` is sent as
    `authorization: Bearer <token>` on every call. The channel connects lazily: an unreachable
    server shows up as BledfuError SERVER_UNREACHABLE on the first call.
    """
    if (cert is None) != (key is None):
        raise ValueError("cert and key go together")
    if cert is not None and ca is None:
        raise ValueError("a client certificate needs TLS: pass ca as well")
    opts = list(options)
    if ca is not None:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(ca),
            private_key=_read(key) if key is not None else None,
            certificate_chain=_read(cert) if cert is not None else None,
        )
        channel = grpc.secure_channel(target, credentials, opts)
    else:
        channel = grpc.insecure_channel(target, opts)
    if token:
        channel = grpc.intercept_channel(channel, _BearerToken(token))
    return BledfuStub(channel)


def _duration(seconds: Optional[float]) -> Optional[Duration]:
    if seconds is None:
        return None
    d = Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def check_health(stub: BledfuStub, service: str = "", timeout: float = 5.0) -> str:
    """grpc.health.v1.Health/Check: "SERVING" while at least one adapter is ready, else
    "NOT_SERVING" (or "SERVICE_UNKNOWN" for a service the server does not have)."""
    check = stub.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=vendored_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=vendored_pb2.HealthCheckResponse.FromString,
    )
    try:
        response = check(vendored_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as e:
        raise error_from_rpc(e) from None
    return vendored_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def wait_until_serving(stub: BledfuStub, timeout: float, interval: float = 0.2) -> None:
    """Polls the health check until the server answers SERVING (a server that is still starting
    refuses connections; one whose adapters are not open yet answers NOT_SERVING).
    Raises the last BledfuError, or one with reason NOT_SERVING, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = check_health(stub, timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            last = BledfuError("NOT_SERVING", f"the server's health check says {status}",
                               {"remedy": "check the server's adapters (ListAdapters shows their errors)"})
            if status == "SERVING":
                return
        except BledfuError as e:
            last = e
        if time.monotonic() + interval > deadline:
            raise last
        time.sleep(interval)


def _stream(call: grpc.Call) -> Iterator:  # type: ignore[type-arg]
    """Iterates a server stream; cancels the call when the caller stops early, so the server's
    radio work (a scan, a search for a device) stops too."""
    try:
        yield from call  # type: ignore[misc]
    except grpc.RpcError as e:
        raise error_from_rpc(e) from None
    finally:
        call.cancel()


def _target(address: Optional[str], name: Optional[str]) -> common_pb2.Target:
    if (address is None) == (name is None):
        raise ValueError("give exactly one of address and name")
    if address is not None:
        return common_pb2.Target(address=common_pb2.Address(value=address))
    return common_pb2.Target(name=name)


def scan(stub: BledfuStub, *, seconds: Optional[float] = None, adapter_id: str = "", name: str = "",
         name_prefix: str = "", address: str = "", service_uuid: str = "", min_rssi: Optional[int] = None,
         dfu_bootloader_only: bool = False, allow_duplicates: bool = False, active: bool = False,
         timeout: Optional[float] = None) -> Iterator[scan_pb2.Advertisement]:
    """Yields advertisements as the server receives them, for `seconds` (None: until the
    generator is closed). All filters given must match."""
    request = scan_pb2.ScanRequest(
        adapter_id=adapter_id,
        filter=scan_pb2.ScanFilter(name=name, name_prefix=name_prefix, address=address, service_uuid=service_uuid,
                                   min_rssi=min_rssi, dfu_bootloader_only=dfu_bootloader_only),
        duration=_duration(seconds),
        allow_duplicates=allow_duplicates,
        active=active,
    )
    for response in _stream(stub.Scan(request, timeout=timeout)):
        yield response.advertisement


def inventory(stub: BledfuStub, *, seconds: Optional[float] = None, adapter_ids: Sequence[str] = (), probe: bool = False,
              name: str = "", name_prefix: str = "", address: str = "", service_uuid: str = "",
              min_rssi: Optional[int] = None, max_devices: int = 0,
              timeout: Optional[float] = None) -> inventory_pb2.InventoryResponse:
    """The devices in range and what each is (`kind`: buttonless application, Secure DFU bootloader
    with the `application_address` it likely stands for, legacy DFU, no DFU), strongest first.
    The server listens for `seconds` (0.1 to 60; None: its default, 3) on `adapter_ids` (empty:
    every ready adapter); with `probe` it also connects to the devices whose advertisement does not
    say what they are, to read their services and Device Information. All filters given must match."""
    request = inventory_pb2.InventoryRequest(
        adapter_ids=list(adapter_ids),
        filter=scan_pb2.ScanFilter(name=name, name_prefix=name_prefix, address=address, service_uuid=service_uuid,
                                   min_rssi=min_rssi),
        duration=_duration(seconds),
        probe=probe,
        max_devices=max_devices,
    )
    try:
        return stub.Inventory(request, timeout=timeout)
    except grpc.RpcError as e:
        raise error_from_rpc(e) from None


def device_kind_name(device: inventory_pb2.InventoryDevice) -> str:
    """A device's kind in one word, as the CLI's table prints it: "buttonless" (or
    "bonded-buttonless"), "bootloader", "legacy-dfu", "no-dfu", or "unknown" (not probed, or its
    probe failed: `device.probe_error` says why)."""
    kinds = inventory_pb2.DeviceKind
    if device.kind == kinds.DEVICE_KIND_APPLICATION_BUTTONLESS:
        return "bonded-buttonless" if device.bonded_buttonless else "buttonless"
    return {
        kinds.DEVICE_KIND_SECURE_DFU_BOOTLOADER: "bootloader",
        kinds.DEVICE_KIND_LEGACY_DFU: "legacy-dfu",
        kinds.DEVICE_KIND_NO_DFU: "no-dfu",
    }.get(device.kind, "unknown")


def dfu_protocol_name(protocol: int) -> str:
    """A DFU protocol in one word, as the audit log, the metrics' `protocol` label and `bledfu audit --csv`
    spell it: "secure" (Secure DFU), "legacy" (legacy DFU: nRF5 SDK <= 11, the Adafruit bootloader), or
    "" when the server did not say (a record of an older server). Takes the `protocol` of a Job,
    JobResult, UploadPackageResponse or AuditRecord."""
    return {
        dfu_pb2.DfuProtocol.DFU_PROTOCOL_SECURE: "secure",
        dfu_pb2.DfuProtocol.DFU_PROTOCOL_LEGACY: "legacy",
    }.get(protocol, "")


def upload_package(stub: BledfuStub, package: PathOrBytes, timeout: Optional[float] = None) -> dfu_pb2.UploadPackageResponse:
    """Stores a package on the server (in pieces, for packages larger than one message); its
    `package_id` can be given to start_dfu."""
    data = _read(package)
    chunks = (dfu_pb2.UploadPackageRequest(chunk=data[i:i + _UPLOAD_CHUNK]) for i in range(0, len(data), _UPLOAD_CHUNK))
    try:
        return stub.UploadPackage(chunks, timeout=timeout)
    except grpc.RpcError as e:
        raise error_from_rpc(e) from None


_BUTTONLESS = {
    "auto": dfu_pb2.BUTTONLESS_MODE_AUTO,
    "required": dfu_pb2.BUTTONLESS_MODE_REQUIRED,
    "off": dfu_pb2.BUTTONLESS_MODE_OFF,
}


def start_dfu(stub: BledfuStub, package: Optional[PathOrBytes] = None, *, address: Optional[str] = None,
              name: Optional[str] = None, package_id: Optional[str] = None, adapter_id: str = "",
              prn: int = 0, mtu: int = 0, retries: Optional[int] = None, buttonless: str = "auto",
              scan_timeout: Optional[float] = None, request_timeout: Optional[float] = None,
              disable_resume: bool = False, capture_hci: bool = False,
              labels: Optional[Mapping[str, str]] = None, skip_if_firmware_revision: str = "",
              timeout: Optional[float] = None) -> Iterator[dfu_pb2.JobEvent]:
    """Starts a DFU job and yields its events: first `snapshot`, then `state_changed` and
    `progress`, last `finished`. The package is a .zip path or its bytes (sent in the request),
    or the `package_id` of an upload_package. The device is given by `address`
    ("AA:BB:CC:DD:EE:FF") or by advertised `name`.

    `retries` None leaves the server's default (3); 0 asks for no retries.

    `labels` (e.g. {"serial": "SN-0042", "work_order": "WO-7"}) stay with the job and go into its
    audit records; at most 16, keys of 1 to 64 characters of A-Z a-z 0-9 _ . -, values of at most
    256 bytes without control characters (beyond: BledfuError INVALID_ARGUMENT).

    `skip_if_firmware_revision`: when the application's Device Information firmware revision is
    exactly this string, the job writes nothing and ends UP_TO_DATE (`finished.skipped`), which is
    not raised: `finished.success` is true. "" never skips.

    The stream itself ends OK after `finished` whatever the job's outcome; a failed or cancelled
    job raises BledfuError (its reason, `status` as a call failing with it would have, and for a
    cancelled job "cancel_cause" and "cancelled_by" in `metadata`) after its `finished` event has
    been yielded. A BledfuError without a `finished` event before it is the call's own failure.
    Closing the generator early ends the stream only: the job keeps running on the server.
    """
    if (package is None) == (package_id is None):
        raise ValueError("give exactly one of package and package_id")
    if buttonless not in _BUTTONLESS:
        raise ValueError(f"buttonless must be one of {', '.join(_BUTTONLESS)}")
    request = dfu_pb2.StartDfuRequest(
        target=_target(address, name),
        adapter_id=adapter_id,
        options=dfu_pb2.DfuOptions(prn=prn, mtu=mtu, retries=retries, buttonless=_BUTTONLESS[buttonless],  # None: unset
                                   scan_timeout=_duration(scan_timeout), request_timeout=_duration(request_timeout),
                                   disable_resume=disable_resume,
                                   skip_if_firmware_revision=skip_if_firmware_revision),
        capture_hci=capture_hci,
        labels=dict(labels or {}),
    )
    if package_id is not None:
        request.package_id = package_id
    else:
        request.package_data = _read(package)  # type: ignore[arg-type]
    finished: Optional[dfu_pb2.JobResult] = None
    for response in _stream(stub.StartDfu(request, timeout=timeout)):
        if response.event.HasField("finished"):
            finished = response.event.finished
        yield response.event
    # The stream ends OK after `finished` (service.proto): the job's outcome is in the event.
    if finished is not None and not finished.success:
        raise _result_error(finished)


_STATUS_BY_NUMBER = {s.value[0]: s for s in grpc.StatusCode}


def _result_error(result: dfu_pb2.JobResult) -> BledfuError:
    e = result.error
    # The ErrorInfo metadata a failed call would carry; a server older than error_metadata sends
    # none, and the detail's own fields stand in.
    metadata = dict(result.error_metadata)
    if not metadata:
        if e.remedy:
            metadata["remedy"] = e.remedy
        if e.dfu_result_name:
            metadata["dfu_result_name"] = e.dfu_result_name
        if e.dfu_extended_error_name:
            metadata["dfu_extended_error_name"] = e.dfu_extended_error_name
    if result.cancel_cause != dfu_pb2.CANCEL_CAUSE_UNSPECIFIED:
        metadata["cancel_cause"] = dfu_pb2.CancelCause.Name(result.cancel_cause).removeprefix("CANCEL_CAUSE_")
    if result.cancelled_by:
        metadata["cancelled_by"] = result.cancelled_by
    return BledfuError(e.reason or "UNKNOWN", e.message, metadata, _STATUS_BY_NUMBER.get(result.error_status) if result.error_status else None,
                       detail=e)


def _unary(call, request, timeout: Optional[float]):  # type: ignore[no-untyped-def]
    try:
        return call(request, timeout=timeout)
    except grpc.RpcError as e:
        raise error_from_rpc(e) from None


def start_campaign(stub: BledfuStub, package: Optional[PathOrBytes] = None, *, package_id: Optional[str] = None,
                   name: str = "", name_prefix: str = "", service_uuid: str = "", manufacturer_id: Optional[int] = None,
                   manufacturer_data_prefix: bytes = b"", min_rssi: Optional[int] = None, addresses: Sequence[str] = (),
                   adapter_ids: Sequence[str] = (), parallel_per_adapter: int = 0, max_attempts: Optional[int] = None,
                   retry_delay: Optional[float] = None, max_devices: int = 0, duration: Optional[float] = None,
                   include_bootloaders: bool = False, prn: int = 0, mtu: int = 0, retries: Optional[int] = None,
                   buttonless: str = "auto", scan_timeout: Optional[float] = None, request_timeout: Optional[float] = None,
                   disable_resume: bool = False, skip_if_firmware_revision: str = "",
                   labels: Optional[Mapping[str, str]] = None, campaign_name: str = "",
                   timeout: Optional[float] = None) -> campaign_pb2.Campaign:
    """Starts a campaign (campaign.proto) and returns it as started: the server then watches the
    air on `adapter_ids` (none: all) for devices matching every filter given (`name`,
    `name_prefix`, `service_uuid`, `manufacturer_id` with `manufacturer_data_prefix`, `min_rssi`,
    `addresses`; at least one, else BledfuError INVALID_ARGUMENT) and updates each once, as
    ordinary jobs with these options and `labels`, `parallel_per_adapter` at a time per adapter.

    `max_attempts` None and `retry_delay` None leave the server's defaults (3 jobs, 5 s apart).
    It runs until stop_campaign, until it took `max_devices` (0: no limit), or for `duration`
    seconds (None: no limit). `campaign_name` is a name for people. The package is a .zip path
    or its bytes (sent in the request), or the `package_id` of an upload_package (larger ones).
    """
    if (package is None) == (package_id is None):
        raise ValueError("give exactly one of package and package_id")
    if buttonless not in _BUTTONLESS:
        raise ValueError(f"buttonless must be one of {', '.join(_BUTTONLESS)}")
    retry = None
    if max_attempts is not None or retry_delay is not None:
        retry = campaign_pb2.CampaignRetryPolicy(max_attempts=max_attempts, delay=_duration(retry_delay))  # None: unset
    request = campaign_pb2.StartCampaignRequest(
        filter=campaign_pb2.CampaignFilter(name=name, name_prefix=name_prefix, service_uuid=service_uuid,
                                           manufacturer_id=manufacturer_id,
                                           manufacturer_data_prefix=manufacturer_data_prefix, min_rssi=min_rssi,
                                           addresses=list(addresses)),
        adapter_ids=list(adapter_ids),
        parallel_per_adapter=parallel_per_adapter,
        retry=retry,
        max_devices=max_devices,
        duration=_duration(duration),
        include_bootloaders=include_bootloaders,
        options=dfu_pb2.DfuOptions(prn=prn, mtu=mtu, retries=retries, buttonless=_BUTTONLESS[buttonless],
                                   scan_timeout=_duration(scan_timeout), request_timeout=_duration(request_timeout),
                                   disable_resume=disable_resume,
                                   skip_if_firmware_revision=skip_if_firmware_revision),
        labels=dict(labels or {}),
        name=campaign_name,
    )
    if package_id is not None:
        request.package_id = package_id
    else:
        request.package_data = _read(package)  # type: ignore[arg-type]
    return _unary(stub.StartCampaign, request, timeout).campaign


def watch_campaign(stub: BledfuStub, campaign_id: str, *, timeout: Optional[float] = None) -> Iterator[campaign_pb2.CampaignEvent]:
    """Yields a campaign's events: first `snapshot` (devices included), then a `device` event per
    device taken or changed, `stopping`, and last `ended` (then the generator ends). Every event
    has the `counts` after it. Closing the generator early stops watching only: the campaign
    keeps running on the server. An unknown campaign raises BledfuError CAMPAIGN_NOT_FOUND."""
    for response in _stream(stub.WatchCampaign(campaign_pb2.WatchCampaignRequest(campaign_id=campaign_id), timeout=timeout)):
        yield response.event


def get_campaign(stub: BledfuStub, campaign_id: str, timeout: Optional[float] = None) -> campaign_pb2.Campaign:
    """The campaign with every device it took (CAMPAIGN_NOT_FOUND for an unknown one)."""
    return _unary(stub.GetCampaign, campaign_pb2.GetCampaignRequest(campaign_id=campaign_id), timeout).campaign


def list_campaigns(stub: BledfuStub, *, active_only: bool = False, timeout: Optional[float] = None) -> List[campaign_pb2.Campaign]:
    """Running and stopping campaigns, then recently ended ones; with counts, without devices."""
    return list(_unary(stub.ListCampaigns, campaign_pb2.ListCampaignsRequest(active_only=active_only), timeout).campaigns)


def stop_campaign(stub: BledfuStub, campaign_id: str, *, cancel_jobs: bool = False, timeout: Optional[float] = None) -> campaign_pb2.Campaign:
    """Stops a campaign taking devices; its running jobs run to their end, or with `cancel_jobs`
    are cancelled (each device left able to resume). Of an ended campaign: changes nothing and
    returns it."""
    request = campaign_pb2.StopCampaignRequest(campaign_id=campaign_id, cancel_jobs=cancel_jobs)
    return _unary(stub.StopCampaign, request, timeout).campaign
