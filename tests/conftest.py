"""Test-wide set-up: no network, HOME-style caches in a temporary dir, a headless backend."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

# Before anything imports matplotlib/mnist1d/torch hub: point every HOME-style cache at a
# temporary directory so tests never write into the user's home or the working directory.
_CACHE_ROOT = tempfile.mkdtemp(prefix="lrlab-tests-")
for _var, _sub in {
    "MPLCONFIGDIR": "mpl",
    "XDG_CACHE_HOME": "xdg-cache",
    "TORCH_HOME": "torch",
    "LRLAB_DATA_DIR": "data",
    "HOME": "home",
}.items():
    os.environ[_var] = os.path.join(_CACHE_ROOT, _sub)
    os.makedirs(os.environ[_var], exist_ok=True)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

_LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "0.0.0.0", ""}
_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address):  # type: ignore[no-untyped-def]
    # Unix sockets (str/bytes addresses) and loopback are fine (Ray talks to itself on them).
    if (
        isinstance(address, tuple)
        and str(address[0]) not in _LOCAL_HOSTS
        and not str(address[0]).startswith("127.")
    ):
        raise RuntimeError(f"Tests must not touch the network (tried to connect to {address}).")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fresh_torch_defaults():
    """Each test starts from the same global RNG state and restores torch's defaults."""
    import torch

    torch.manual_seed(0)
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)
