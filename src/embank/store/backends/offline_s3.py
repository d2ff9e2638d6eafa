"""The S3 offline store (``s3://bucket/prefix``), through pyarrow's own S3 client.

Layout under the prefix: ``data/<ns>/<name>/<uuid>/<file>``, the same files as a local
version folder, ``manifest.json`` uploaded last. Readers get a local copy under
``$EMBANK_CACHE/<bank_id>/`` (default ``~/.cache/embank/<bank_id>/``), each file checked
against the manifest's sha256 before the copy is renamed into place, so memory maps and
every local reader work unchanged. A publisher's staged folder becomes its cache copy.

Connection settings come from the environment, never from the registry: credentials
through the AWS chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ...), the
endpoint from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (or ``?endpoint_override=``
in the URL), the region from ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (or ``?region=``);
``?request_timeout=`` / ``?connect_timeout=`` (seconds) replace the AWS SDK's defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from embank.errors import StorageError, UsageError
from embank.store import faults, files
from embank.store.backends import cache as version_cache
from embank.store.backends.base import StoredItem

__all__ = ["S3Offline", "cache_root"]

_THREADS = 8
#: options an s3:// URL may carry after ``?`` (timeouts in seconds; the AWS SDK's default
#: request timeout is 3 s, short for a slow or loaded endpoint)
_OPTIONS = ("endpoint_override", "region", "request_timeout", "connect_timeout")
_CHUNK_BYTES = 8 << 20
_IN_FLIGHT_BYTES = 64 << 20
_DATA = "data"
_INDEXES = "indexes"


def cache_root() -> Path:
    """Where remote versions are copied for reading: ``$EMBANK_CACHE``, else
    ``$XDG_CACHE_HOME/embank``, else ``~/.cache/embank``."""
    explicit = os.environ.get("EMBANK_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "embank"


class S3Offline:
    """Version folders as objects under ``s3://<base>/``."""

    def __init__(self, url: str, base: str, fs: Any, cache: Path) -> None:
        self.url = url
        self.base = base  # bucket/prefix, no slashes at either end
        self.fs = fs
        self.cache = cache
        self.staging_root = cache / "_staging"

    @classmethod
    def from_url(cls, url: str, *, bank_id: str) -> S3Offline:
        from pyarrow import fs as pafs

        parts = urlsplit(url)
        if not parts.netloc:
            raise UsageError(f"offline store {url!r} names no bucket: use s3://BUCKET/PREFIX")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - set(_OPTIONS)
        if unknown:
            raise UsageError(
                f"offline store {url!r}: unknown option(s) {sorted(unknown)}; "
                f"known: {', '.join(_OPTIONS)}"
            )
        options: dict[str, Any] = {
            "region": query.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        }
        for name in ("request_timeout", "connect_timeout"):
            if name in query:
                try:
                    options[name] = float(query[name])
                except ValueError:
                    raise UsageError(
                        f"offline store {url!r}: {name} is in seconds, not {query[name]!r}"
                    ) from None
        endpoint = (
            query.get("endpoint_override")
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        if endpoint:
            scheme, _, host = endpoint.rpartition("://")
            options["endpoint_override"] = host.rstrip("/")
            options["scheme"] = scheme or "https"
        base = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        return cls(url, base, pafs.S3FileSystem(**options), cache_root() / bank_id)

    # -- the Protocol -----------------------------------------------------------------

    def put(self, staging: Path, name: str) -> None:
        target = f"{self.base}/{name}"
        # relative names: an index folder holds one sub-folder per entity type
        names = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        first = [n for n in names if n != files.MANIFEST]
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(lambda n: self._upload(staging / n, f"{target}/{n}"), first))
        faults.point("publish:put:manifest")
        self._upload(staging / files.MANIFEST, f"{target}/{files.MANIFEST}")
        cached = self.cache / name
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, cached)  # the same bytes: no download to read them back

    def local_folder(self, name: str) -> Path:
        cached = self.cache / name
        if (cached / files.MANIFEST).exists():
            version_cache.touch(cached)  # its last use, for least-recently-used eviction
            return cached  # complete copies only ever appear by rename
        source = f"{self.base}/{name}"
        download = self.cache / "_download" / uuid.uuid4().hex
        download.mkdir(parents=True)
        try:
            self._download(f"{source}/{files.MANIFEST}", download / files.MANIFEST)
            manifest = json.loads((download / files.MANIFEST).read_text())
            entries = manifest["files"]
            for entry in entries:
                (download / entry).parent.mkdir(parents=True, exist_ok=True)
            with ThreadPoolExecutor(_THREADS) as pool:
                list(pool.map(lambda n: self._download(f"{source}/{n}", download / n), entries))
            bad = [n for n, e in entries.items() if files.sha256_file(download / n) != e["sha256"]]
            if bad:
                raise StorageError(
                    f"s3://{source}: {', '.join(sorted(bad))} differ from the manifest's sha256"
                )
            cached.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(download, cached)
            except OSError:
                if not (cached / files.MANIFEST).exists():
                    raise
        except FileNotFoundError as exc:
            raise StorageError(f"s3://{source} is incomplete or gone: {exc}") from None
        except OSError as exc:
            raise StorageError(f"could not read s3://{source}: {exc}") from None
        finally:
            shutil.rmtree(download, ignore_errors=True)
        self.prune_cache(keep=cached)
        return cached

    def prune_cache(
        self, max_bytes: int | None = None, keep: Path | None = None
    ) -> list[version_cache.CachedVersion]:
        """Evict least recently used version copies beyond ``max_bytes`` (default:
        ``$EMBANK_CACHE_MAX_BYTES``; nothing happens when neither is set)."""
        limit = max_bytes if max_bytes is not None else version_cache.max_cache_bytes()
        if limit is None:
            return []
        return version_cache.prune(self.cache, limit, keep=keep)

    def list(self) -> list[StoredItem]:
        from pyarrow import fs as pafs

        newest: dict[str, float] = {}
        infos = []
        for top in (_DATA, _INDEXES):  # version folders, and the ANN indexes beside them
            selector = pafs.FileSelector(f"{self.base}/{top}", recursive=True, allow_not_found=True)
            infos += self.fs.get_file_info(selector)
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            relative = info.path[len(self.base) + 1 :].split("/")
            if len(relative) < 5:
                continue  # not data|indexes/<ns>/<name>/<uuid>/<file>
            name = "/".join(relative[:4])
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            newest[name] = max(newest.get(name, 0.0), mtime)
        return [
            StoredItem(name, f"s3://{self.base}/{name}", mtime)
            for name, mtime in sorted(newest.items())
        ]

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(f"{self.base}/{name}")
        shutil.rmtree(self.cache / name, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------

    def _upload(self, source: Path, target: str) -> None:
        """Upload one file, its parts several at a time but at most ``_IN_FLIGHT_BYTES``
        of them pending: pyarrow's background writes queue every part in memory when the
        endpoint is slower than the disk (+850 MB for a million 128-float rows), so the
        stream is flushed (which waits for the pending parts) every so often."""
        written = 0
        with source.open("rb") as fh, self.fs.open_output_stream(target) as out:
            for block in iter(lambda: fh.read(_CHUNK_BYTES), b""):
                out.write(block)
                written += len(block)
                if written >= _IN_FLIGHT_BYTES:
                    out.flush()
                    written = 0

    def _download(self, source: str, target: Path) -> None:
        from pyarrow import fs as pafs

        pafs.copy_files(
            source,
            str(target),
            source_filesystem=self.fs,
            destination_filesystem=pafs.LocalFileSystem(),
            chunk_size=8 << 20,
        )
