"""Export a version to files other tools read.

- ``parquet``: one file, the offline store as published (entity, key, vector as
  ``FixedSizeList<float32>[dim]``).
- ``npy``: a folder with ``vectors.npy`` and ``keys.tsv`` (header ``entity\\tkey``).
- ``w2v``: word2vec text (gensim's ``KeyedVectors.load_word2vec_format`` reads it), one
  ``entity:key`` per line; refuses keys with whitespace, which the format cannot hold.
- ``projector``: a folder for the TensorBoard embedding projector: ``vectors.tsv`` (one
  tab-separated vector per row, no header) and ``metadata.tsv`` (header ``entity\\tkey``,
  plus ``label`` when the version holds labels). Tab, newline, carriage return and
  backslash in a metadata value are written as ``\\t``, ``\\n``, ``\\r`` and ``\\\\``; a key
  with several labels gets them sorted and joined by ``|``.

The text formats stream the offline file batch by batch, so a table larger than memory
exports in bounded memory; each file is written under a temporary name and renamed when
complete, so a failed export leaves no partial file. Numbers are written as ``%.8g``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, TextIO

import numpy as np

from embank.errors import UsageError, ValidationError
from embank.store import files
from embank.store.embedding import Embedding

__all__ = ["EXPORT_FORMATS", "export"]

ExportFormat = Literal["parquet", "npy", "w2v", "projector"]

#: values per streamed batch (rows = this // dim): a few MiB of text at a time
_BATCH_VALUES = 1 << 20
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def export(embedding: Embedding, fmt: str, out: Path) -> list[Path]:
    """Write ``embedding`` to ``out`` in ``fmt``; returns the files written.

    ``out`` is a file for ``parquet`` and ``w2v``, a folder for ``npy`` and ``projector``.
    Raises :class:`UsageError` for an unknown format and :class:`ValidationError` when the
    rows cannot be written in it (whitespace in a key, for w2v).
    """
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise UsageError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    return writer(embedding, Path(out))


def _parquet(embedding: Embedding, out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(embedding.folder / files.OFFLINE, out)
    return [out]


def _npy(embedding: Embedding, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "vectors.npy", np.asarray(embedding.to_numpy()), allow_pickle=False)
    with (out / "keys.tsv").open("w", encoding="utf-8") as fh:
        fh.write("entity\tkey\n")
        fh.writelines(
            f"{e}\t{k}\n" for e, k in zip(embedding.entities, embedding.keys, strict=True)
        )
    return [out / "vectors.npy", out / "keys.tsv"]


def _w2v(embedding: Embedding, out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    line = "%s " + " ".join(["%.8g"] * embedding.dim) + "\n"
    n_spaced = 0
    spaced: list[str] = []
    with _atomic(out) as fh:
        fh.write(f"{embedding.n_rows} {embedding.dim}\n")
        for entities, keys, vectors in _batches(embedding):
            bad = [k for k in keys if any(c.isspace() for c in k)]
            if bad:
                n_spaced += len(bad)
                spaced += bad[: 3 - len(spaced)]
            if n_spaced:
                continue  # only counting now: the file is dropped below
            fh.write(
                "".join(
                    line % (f"{e}:{k}", *row)
                    for e, k, row in zip(entities, keys, vectors.tolist(), strict=True)
                )
            )
        if n_spaced:
            raise ValidationError(
                f"{n_spaced} key(s) hold whitespace, which word2vec text cannot, e.g. "
                f"{spaced}; export as parquet, npy or projector instead"
            )
    return [out]


def _projector(embedding: Embedding, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    labels = embedding.labels()
    label_of: dict[tuple[str, str], str] = {}
    if labels is not None:
        label_of = {(labels.entity, k): "|".join(v) for k, v in labels.label_sets().items()}
    line = "\t".join(["%.8g"] * embedding.dim) + "\n"
    vectors_path, metadata_path = out / "vectors.tsv", out / "metadata.tsv"
    with _atomic(vectors_path) as vfh, _atomic(metadata_path) as mfh:
        mfh.write("entity\tkey\tlabel\n" if labels is not None else "entity\tkey\n")
        for entities, keys, vectors in _batches(embedding):
            vfh.write("".join(line % tuple(row) for row in vectors.tolist()))
            for e, k in zip(entities, keys, strict=True):
                fields = [e, k] if labels is None else [e, k, label_of.get((e, k), "")]
                mfh.write("\t".join(_escape(f) for f in fields) + "\n")
    return [vectors_path, metadata_path]


_WRITERS: dict[str, Callable[[Embedding, Path], list[Path]]] = {
    "parquet": _parquet,
    "npy": _npy,
    "w2v": _w2v,
    "projector": _projector,
}
#: every format ``export`` writes; the CLI and the docs read this list
EXPORT_FORMATS: tuple[str, ...] = tuple(_WRITERS)


def _batches(embedding: Embedding) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
    """(entities, keys, n x dim float32 vectors) of the offline file, batch by batch."""
    size = max(1, _BATCH_VALUES // embedding.dim)
    for batch in embedding.iter_batches(size):
        entity = batch.column("entity")
        if hasattr(entity, "dictionary_decode"):
            entity = entity.dictionary_decode()
        vectors = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
        yield (
            entity.to_pylist(),
            batch.column("key").to_pylist(),
            vectors.reshape(batch.num_rows, embedding.dim),
        )


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


@contextmanager
def _atomic(path: Path) -> Iterator[TextIO]:
    """A text file that appears at ``path`` only when its block completes."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as fh:
            yield fh
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
