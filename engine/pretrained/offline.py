"""Whether downloads are allowed, and a bounded network wait when they are.

Netwright never waits on the network without a bound: with ``NETWRIGHT_OFFLINE=1`` or
``HF_HUB_OFFLINE=1`` nothing is downloaded at all (only caches and local files are read), and an
online download gives up after ``NETWRIGHT_DOWNLOAD_TIMEOUT`` seconds (default 20) of silence.
"""
from __future__ import annotations

import contextlib
import os
import socket
from typing import Iterator

_TRUE = ("1", "true", "yes", "on")


def offline() -> bool:
    """True when downloads are switched off (NETWRIGHT_OFFLINE or HF_HUB_OFFLINE)."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("NETWRIGHT_OFFLINE", "HF_HUB_OFFLINE"))


def download_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get("NETWRIGHT_DOWNLOAD_TIMEOUT", "20")))
    except ValueError:
        return 20.0


@contextlib.contextmanager
def bounded_network() -> Iterator[None]:
    """Socket reads inside give up after the download timeout (urllib, torch.hub, requests)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(download_timeout())
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def local_file_hint(what: str) -> str:
    """How to do without the download, said the same way everywhere."""
    return (f"download it on a machine with a network connection, or point the layer at local weights: "
            f"weights = \"file\" with weights_path = a .safetensors or .pth state dict of {what}")
