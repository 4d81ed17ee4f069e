"""Python client of bledfu, the gRPC service that firmware-updates Nordic nRF5 devices over
Bluetooth LE.

    from bledfu_client import connect, scan, start_dfu, BledfuError

    with connect("127.0.0.1:50051") as stub:
        for ad in scan(stub, seconds=2):
            print(ad.address.value, ad.name, ad.rssi)
        for event in start_dfu(stub, "app.zip", name="bledfu-sim-1"):
            print(event)

`stub` is the generated bledfu.v1.BledfuService stub: every RPC of proto/bledfu/v1 can be called
on it directly with the messages from `bledfu_client.pb` (catch grpc.RpcError and turn it into a
BledfuError with `error_from_rpc`).
"""
from .client import (
    DEFAULT_TARGET, BledfuStub, check_health, connect, device_kind_name, dfu_protocol_name, get_campaign, inventory, list_campaigns, scan,
    start_campaign, start_dfu, stop_campaign, upload_package, wait_until_serving, watch_campaign,
)
from .errors import ERROR_DOMAIN, BledfuError, error_from_rpc
from . import pb

__all__ = [
    "DEFAULT_TARGET", "ERROR_DOMAIN", "BledfuError", "BledfuStub", "check_health", "connect", "device_kind_name",
    "dfu_protocol_name", "error_from_rpc", "get_campaign", "inventory", "list_campaigns", "pb", "scan", "start_campaign", "start_dfu",
    "stop_campaign", "upload_package", "wait_until_serving", "watch_campaign",
]
