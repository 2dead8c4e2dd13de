"""Finding model weights: the standard Hugging Face cache, a local path, or a first-run download.

The hub cache is shared with every other HF tool, so a model the user already has is reused.
Downloads happen only when the hub is not switched off (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE),
and report progress through `on_status`. A miss while offline, or a hub that cannot be reached,
becomes a `ModelUnavailableError` that says how to get the model.

Checkpoints are read with safetensors or `torch.load(weights_only=True)`: never raw pickle.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexplorer.core import paths
from mmexplorer.core.errors import ModelUnavailableError, UsageError
from mmexplorer.core.models.base import StatusCallback, StatusReporter

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_TRUE = {"1", "on", "yes", "true"}


def is_offline() -> bool:
    """True when the user switched the hub off. Read from the environment on every call, because
    huggingface_hub freezes its own flag at import time and tests flip it later."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return True
    return False


def hub_cache_dir() -> Path:
    """The hub cache to read and fill: MMEXPLORER_MODEL_CACHE, else HF_HUB_CACHE, else HF_HOME/hub.

    Resolved on every call (not at import, as huggingface_hub does) so that a cache named in the
    environment after start-up is honoured.
    """
    override = paths.model_cache_dir()
    if override is not None:
        return override
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = os.environ.get(var)
        if value:
            return Path(os.path.expandvars(value)).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(os.path.expandvars(hf_home)).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


# What a user can do instead of downloading, per space (the flag that takes a local model, or turns it off).
_LOCAL_ALTERNATIVE = {
    "image": "or pass --model with a local folder or ARCH=/path/to/checkpoint",
    "caption": "or pass --caption-model with a local folder, or turn captions off (--no-captions)",
    "speech": "or pass --speech-model with a local CTranslate2 Whisper folder",
    "sound": "or pass --sound-model with a local CLAP folder, or turn sound vectors off (--no-sound)",
}


def pull_hint(name: str, space: str = "image") -> str:
    """How a user gets a model of a space onto an offline machine."""
    alternative = _LOCAL_ALTERNATIVE.get(space)
    return (
        f"run `mmexplorer models pull {name}` on a machine connected to the internet "
        f"(it fills the Hugging Face cache, {hub_cache_dir()}; copy that folder over)"
        + (f", {alternative}" if alternative else "")
    )


def cached_hub_file(repo_id: str, filenames: Sequence[str], *, revision: str | None = None) -> Path | None:
    """The first of `filenames` present in the hub cache for `repo_id`, without any network access."""
    from huggingface_hub import try_to_load_from_cache

    cache = hub_cache_dir()
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def _progress_class(on_status: StatusCallback | None, *, space: str, model: str, filename: str) -> Any:
    """A tqdm class for huggingface_hub that turns byte counts into ModelStatus news.

    It subclasses the hub's own tqdm (the xet download path needs the full tqdm API) but forces the
    bar on and writes it nowhere: a disabled tqdm stops counting, and the terminal is not ours.
    """
    from huggingface_hub.utils import tqdm as hf_tqdm

    status = StatusReporter(on_status, space=space, name=model)

    class _StatusTqdm(hf_tqdm):  # type: ignore[misc, valid-type]
        _last = 0.0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            now = time.monotonic()
            if on_status is not None and (now - self._last > 0.2 or (self.total and self.n >= self.total)):
                self._last = now
                fraction = min(1.0, self.n / self.total) if self.total else None
                done_mb = self.n / 1e6
                message = f"downloading {filename}: {done_mb:.0f} MB"
                if self.total:
                    message += f" of {self.total / 1e6:.0f} MB"
                status.downloading(message, fraction=fraction)
            return shown

        def close(self) -> None:
            handle = self.fp
            super().close()
            try:
                handle.close()
            except (AttributeError, OSError):
                pass

    return _StatusTqdm


def resolve_hub_file(
    repo_id: str,
    filenames: Sequence[str],
    *,
    model: str,
    space: str = "image",
    revision: str | None = None,
    on_status: StatusCallback | None = None,
) -> Path:
    """A local path to the first of `filenames` in hub repo `repo_id`, downloading it if allowed.

    Args:
        repo_id: "org/repo" on the Hugging Face hub.
        filenames: acceptable files, best first (e.g. safetensors before a pickle-based .bin).
        model: the model's name as the user would type it, for messages.
        space: the vector space the model serves, for `ModelStatus`.
        revision: a branch, tag or commit; None is "main".
        on_status: receives "downloading" news with a fraction while bytes arrive.

    Raises:
        ModelUnavailableError: not cached and offline, not reachable, or not in the repo.
    """
    found = cached_hub_file(repo_id, filenames, revision=revision)
    if found is not None:
        return found
    if is_offline():
        raise ModelUnavailableError(model, "offline (HF_HUB_OFFLINE) and not in the cache: " + pull_hint(model, space))

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    status = StatusReporter(on_status, space=space, name=model)
    last_error: Exception | None = None
    for filename in filenames:
        status.downloading(f"downloading {filename}", fraction=0.0)
        try:
            path = hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=hub_cache_dir(),
                tqdm_class=_progress_class(on_status, space=space, model=model, filename=filename),
            )
        except LocalEntryNotFoundError as e:  # the hub did not answer: trying other names would only wait again
            raise ModelUnavailableError(
                model, f"the hub could not be reached ({repo_id}) and it is not in the cache; " + pull_hint(model, space)
            ) from e
        except EntryNotFoundError as e:  # this repo lacks this variant: try the next one
            last_error = e
            continue
        except Exception as e:  # network, auth, disk: all mean "not available now"
            raise ModelUnavailableError(model, f"could not download from {repo_id} ({e}); " + pull_hint(model, space)) from e
        return Path(path)
    raise ModelUnavailableError(
        model, f"{repo_id} has none of {', '.join(filenames)} ({last_error}); " + pull_hint(model, space)
    ) from last_error


def resolve_hub_snapshot(
    repo_id: str,
    *,
    model: str,
    space: str = "text",
    allow_patterns: Sequence[str] | None = None,
    required: Sequence[str] = (),
    on_status: StatusCallback | None = None,
) -> Path:
    """A local snapshot folder of a whole hub repo (for sentence-transformers models).

    Raises:
        ModelUnavailableError: not cached and offline, or not reachable.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        folder = Path(
            snapshot_download(
                repo_id, cache_dir=hub_cache_dir(), allow_patterns=list(allow_patterns or []) or None,
                local_files_only=True,
            )
        )
        if all((folder / name).exists() for name in required):
            return folder
    except (EntryNotFoundError, OSError) as e:  # LocalEntryNotFoundError: simply not cached
        log.debug("%s not in the hub cache: %s", repo_id, e)
    if is_offline():
        raise ModelUnavailableError(model, "offline (HF_HUB_OFFLINE) and not in the cache: " + pull_hint(model, space))
    StatusReporter(on_status, space=space, name=model).downloading(f"downloading {repo_id}", fraction=0.0)
    try:
        folder = Path(
            snapshot_download(
                repo_id,
                cache_dir=hub_cache_dir(),
                allow_patterns=list(allow_patterns or []) or None,
                tqdm_class=_progress_class(on_status, space=space, model=model, filename=repo_id),
            )
        )
    except Exception as e:
        raise ModelUnavailableError(model, f"could not download {repo_id} ({e}); " + pull_hint(model, space)) from e
    return folder


def snapshot_revision(path: Path) -> str | None:
    """The commit hash of the hub snapshot a cached file belongs to (…/snapshots/<rev>/file)."""
    parts = Path(path).parts
    if "snapshots" in parts:
        i = parts.index("snapshots")
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


_hash_memo: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, remembered per (path, size, mtime) for this process."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_memo:
            return _hash_memo[key]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_memo[key] = value
    return value


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely: safetensors, or `torch.load(weights_only=True)` for .pt/.pth/.bin.

    Unwraps {"state_dict": ...} and strips a DataParallel "module." prefix, as open_clip does.

    Raises:
        UsageError: the file is not a checkpoint we can read safely (e.g. it pickles arbitrary code).
    """
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            checkpoint: Any = load_file(str(path), device="cpu")
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UsageError(
            f"{path}: cannot be read as a safetensors or weights-only torch checkpoint ({e})"
        ) from e
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise UsageError(f"{path}: not a state dict (found {type(checkpoint).__name__})")
    if all(isinstance(k, str) and k.startswith("module.") for k in checkpoint):
        checkpoint = {k[len("module.") :]: v for k, v in checkpoint.items()}
    return checkpoint
