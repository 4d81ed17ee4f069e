#!/usr/bin/env python3
"""Scans for Bluetooth LE devices through bledfud, then firmware-updates one of them.

    update_device.py --name bledfu-sim-1 app.zip
    update_device.py --server dongle-host:50051 --ca ca.pem --address F0:0D:C0:DE:00:01 app.zip

Prints what the scan saw, the job's states and progress, and the firmware revision the device
reports after the update. Exit status: 0 when the update succeeded, 1 when it failed (the error's
reason code is printed, e.g. DEVICE_NOT_FOUND), 2 for a command-line mistake.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bledfu_client import BledfuError, connect, pb, scan, start_dfu, wait_until_serving


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Scan, then firmware-update one device through bledfud.")
    p.add_argument("package", help="nrfutil DFU package (.zip)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--name", help="the device's advertised name")
    who.add_argument("--address", help="the device's address, AA:BB:CC:DD:EE:FF")
    p.add_argument("--server", default=os.environ.get("BLEDFU_SERVER") or "127.0.0.1:50051",
                   help="bledfud's host:port (env BLEDFU_SERVER; default %(default)s)")
    p.add_argument("--token", default=os.environ.get("BLEDFU_TOKEN") or None,
                   help="bearer token of the operate role (env BLEDFU_TOKEN, which ps cannot see)")
    p.add_argument("--ca", default=os.environ.get("BLEDFU_CA") or None, help="CA (PEM) of the server's TLS certificate; turns on TLS")
    p.add_argument("--cert", default=os.environ.get("BLEDFU_CERT") or None, help="client certificate (PEM) for mutual TLS")
    p.add_argument("--key", default=os.environ.get("BLEDFU_KEY") or None, help="its private key (PEM)")
    p.add_argument("--scan-seconds", type=float, default=2.0, help="how long to scan first; 0 skips the scan (default %(default)s)")
    p.add_argument("--scan-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long the server looks for the device (and for its bootloader after the jump); server default 10 s")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to this long for the server's health check to say SERVING (for a server just started)")
    return p.parse_args(argv)


def print_scan(stub, seconds: float) -> None:  # type: ignore[no-untyped-def]
    print(f"scanning for {seconds:g} s:")
    seen = 0
    for ad in scan(stub, seconds=seconds, active=True):
        seen += 1
        flags = " [DFU bootloader]" if ad.dfu_bootloader else ""
        print(f"  {ad.address.value}  {ad.rssi:4d} dBm  {ad.name or '(no name)'}{flags}")
    print(f"  {seen} device(s)")


def describe(event: pb.dfu.JobEvent, last_decile: list[int]) -> str | None:
    kind = event.WhichOneof("kind")
    if kind == "snapshot":
        job = event.snapshot
        images = ", ".join(f"{pb.dfu.ImageType.Name(i.type).removeprefix('IMAGE_TYPE_').lower()} {i.size} B" for i in job.images)
        return f"job {job.job_id} on adapter {job.adapter_id or '(first ready)'}: {images}"
    if kind == "state_changed":
        s = event.state_changed
        state = pb.dfu.JobState.Name(s.state).removeprefix("JOB_STATE_")
        return f"state {state}" + (f": {s.detail}" if s.detail else "")
    if kind == "progress":
        p = event.progress
        if p.total_bytes_total == 0:
            return None
        # A line per tenth of the package keeps the output short at simulator speed.
        decile = p.total_bytes_sent * 10 // p.total_bytes_total
        if decile == last_decile[0]:
            return None
        last_decile[0] = decile
        return (f"progress image {p.image_index + 1}/{p.image_count}: {p.total_bytes_sent}/{p.total_bytes_total} bytes "
                f"({100 * p.total_bytes_sent // p.total_bytes_total}%), {p.average_rate / 1000:.1f} kB/s")
    if kind == "finished":
        r = event.finished
        took = r.duration.ToTimedelta().total_seconds()
        if r.state == pb.dfu.JobState.Value("JOB_STATE_UP_TO_DATE"):
            return f"finished: already up to date in {took:.1f} s, firmware revision {r.firmware_revision or '(not read)'}"
        if r.success:
            revision = r.firmware_revision or "(the device has no Device Information service)"
            return f"finished: success in {took:.1f} s, firmware revision {revision}"
        return f"finished: failed in {took:.1f} s: {r.error.reason}: {r.error.message}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        package = Path(args.package).read_bytes()
    except OSError as e:
        print(f"error: cannot read the package: {e}", file=sys.stderr)
        return 2
    try:
        with connect(args.server, token=args.token, ca=args.ca, cert=args.cert, key=args.key) as stub:
            if args.wait > 0:
                wait_until_serving(stub, args.wait)
            if args.scan_seconds > 0:
                print_scan(stub, args.scan_seconds)
            target = f'"{args.name}"' if args.name else args.address
            print(f"updating {target} with {args.package} ({len(package)} bytes):")
            last_decile = [-1]
            for event in start_dfu(stub, package, name=args.name, address=args.address,
                                   scan_timeout=args.scan_timeout):
                line = describe(event, last_decile)
                if line is not None:
                    print(line, flush=True)
    except BledfuError as e:
        print(f"error: {e.reason}: {e.message}", file=sys.stderr)
        if e.remedy:
            print(f"remedy: {e.remedy}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
