"""The generated message modules of bledfu.v1, under short names:
`pb.dfu.StartDfuRequest`, `pb.scan.ScanFilter`, `pb.common.Target`, `pb.campaign.Campaign`, ..."""
from ._gen.bledfu.v1 import adapter_pb2 as adapter  # noqa: F401
from ._gen.bledfu.v1 import audit_pb2 as audit  # noqa: F401
from ._gen.bledfu.v1 import campaign_pb2 as campaign  # noqa: F401
from ._gen.bledfu.v1 import common_pb2 as common  # noqa: F401
from ._gen.bledfu.v1 import connect_pb2 as connect  # noqa: F401
from ._gen.bledfu.v1 import dfu_pb2 as dfu  # noqa: F401
from ._gen.bledfu.v1 import inventory_pb2 as inventory  # noqa: F401
from ._gen.bledfu.v1 import scan_pb2 as scan  # noqa: F401
from ._gen.bledfu.v1 import service_pb2_grpc as service_grpc  # noqa: F401
