"""Where models run and in which precision. torch is imported on first call, not at import.

`torch.set_num_threads` is left to the caller: the CLI and the worker know how many cores the
machine may give to encoding, this module does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmexplorer.core.errors import UsageError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def select_device(preference: str | None = "auto") -> str:
    """The device to encode on: cuda > mps > cpu for "auto", else the one asked for.

    Args:
        preference: "auto", "cpu", "mps", "cuda" or "cuda:N".

    Raises:
        UsageError: the asked-for device is unknown or not present on this machine.
    """
    import torch

    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "mps":
        if not _mps_available():
            raise UsageError("device 'mps' was asked for but Metal (MPS) is not available here")
        return "mps"
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {choice!r} was asked for but no CUDA GPU is available here")
        index = choice.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise UsageError(f"no CUDA device {choice!r}: this machine has {torch.cuda.device_count()}")
        return choice
    raise UsageError(f"unknown device {preference!r}: choose one of {', '.join(DEVICE_CHOICES)} or cuda:N")


def dtype_for(device: str) -> torch.dtype:
    """fp16 on CUDA (half the memory, tensor cores), fp32 elsewhere (CPU fp16 is slow, MPS fp16 lossy)."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def free_cached_memory(device: str) -> None:
    """After a model is dropped: hand CUDA's cached blocks back (nothing to do on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
