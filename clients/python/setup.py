"""The build generates the gRPC code from the repository's protos (generate.py) before setuptools
collects the packages, so bledfu_client._gen is in every wheel and never in git."""
import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate  # noqa: E402

if generate.DEFAULT_PROTO_ROOT.is_dir():
    try:
        generate.generate()
    except generate.GenerateError as e:
        sys.exit(f"bledfu-client: {e}")
elif not (generate.DEFAULT_OUT / "__init__.py").is_file():
    sys.exit(f"bledfu-client: build from a bledfu checkout (the protos are expected in {generate.DEFAULT_PROTO_ROOT})")

setup()
