"""One exception for every failed call, carrying the server's stable reason code."""
from __future__ import annotations

from typing import Mapping, Optional

import grpc

from ._gen.bledfu.v1 import common_pb2
from ._gen.bledfu_client import vendored_pb2

ERROR_DOMAIN = "bledfu"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_ERROR_INFO_TYPE = "google.rpc.ErrorInfo"
_ERROR_DETAIL_TYPE = "bledfu.v1.ErrorDetail"


class BledfuError(Exception):
    """A call failed.

    `reason` is the server's stable code from the google.rpc.ErrorInfo it sent (domain
    "bledfu"), e.g. DEVICE_NOT_FOUND, PACKAGE_INVALID, DFU_REMOTE_ERROR, UNAUTHENTICATED. A status
    gRPC raised on its own (no server reply) has no ErrorInfo: then `reason` is
    SERVER_UNREACHABLE for UNAVAILABLE and the status name (e.g. DEADLINE_EXCEEDED) otherwise.
    `metadata` is the ErrorInfo's metadata: "remedy", "layer" and, where the device reported
    them, "dfu_result_name", "dfu_extended_error_name", "att_error", "hci_status", ...
    `detail` is the bledfu.v1.ErrorDetail the server sent beside the ErrorInfo (reason, message,
    remedy and the protocol codes as numbers), None for a status without one.
    """

    def __init__(self, reason: str, message: str, metadata: Optional[Mapping[str, str]] = None,
                 status: Optional[grpc.StatusCode] = None,
                 detail: Optional[common_pb2.ErrorDetail] = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.status = status
        self.detail = detail

    @property
    def remedy(self) -> Optional[str]:
        if self.detail is not None and self.detail.remedy:
            return self.detail.remedy
        return self.metadata.get("remedy")


def _status_details(trailers: object) -> tuple[Optional[vendored_pb2.ErrorInfo], Optional[common_pb2.ErrorDetail]]:
    """The ErrorInfo (domain bledfu) and the ErrorDetail in the google.rpc.Status a server sent."""
    info: Optional[vendored_pb2.ErrorInfo] = None
    error_detail: Optional[common_pb2.ErrorDetail] = None
    for key, value in trailers or ():  # type: ignore[attr-defined]
        if key != _STATUS_DETAILS_KEY:
            continue
        status = vendored_pb2.Status.FromString(value)
        for detail in status.details:
            # Type URLs are "<host>/<full message name>"; only the name is significant.
            name = detail.type_url.rsplit("/", 1)[-1]
            if name == _ERROR_INFO_TYPE and info is None:
                candidate = vendored_pb2.ErrorInfo.FromString(detail.value)
                if candidate.domain == ERROR_DOMAIN:
                    info = candidate
            elif name == _ERROR_DETAIL_TYPE and error_detail is None:
                error_detail = common_pb2.ErrorDetail.FromString(detail.value)
    return info, error_detail


def error_from_rpc(error: grpc.RpcError) -> BledfuError:
    """Decodes what a stub call raised (a grpc.RpcError that is also a grpc.Call)."""
    code: Optional[grpc.StatusCode] = error.code() if hasattr(error, "code") else None  # type: ignore[attr-defined]
    details: str = (error.details() if hasattr(error, "details") else None) or str(error)  # type: ignore[attr-defined]
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None  # type: ignore[attr-defined]
    info, detail = _status_details(trailers)
    # The full ErrorDetail is preferred; the ErrorInfo adds the layer and the context metadata.
    if detail is not None and detail.reason:
        metadata = dict(info.metadata) if info is not None else {}
        if detail.remedy:
            metadata.setdefault("remedy", detail.remedy)
        return BledfuError(detail.reason, detail.message or details, metadata, code, detail)
    if info is not None:
        return BledfuError(info.reason, details, info.metadata, code)
    if code == grpc.StatusCode.UNAVAILABLE:
        return BledfuError("SERVER_UNREACHABLE", details,
                           {"remedy": "check that bledfud is running and the target address points at it"}, code)
    return BledfuError(code.name if code is not None else "UNKNOWN", details, None, code)
