"""Export a version to files other tools read: Parquet, .npy + keys, word2vec text."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import numpy as np

from embank.errors import UsageError, ValidationError
from embank.store import files
from embank.store.embedding import Embedding

__all__ = ["EXPORT_FORMATS", "export"]

ExportFormat = Literal["parquet", "npy", "w2v"]
EXPORT_FORMATS: tuple[str, ...] = ("parquet", "npy", "w2v")


def export(embedding: Embedding, fmt: str, out: Path) -> list[Path]:
    """Write ``embedding`` to ``out`` in ``fmt``; returns the files written.

    ``parquet``: one file (entity, key, vector). ``npy``: a folder with ``vectors.npy`` and
    ``keys.tsv`` (entity, key per row). ``w2v``: word2vec text, one ``entity:key`` per line;
    refuses keys with whitespace, which the format cannot hold.
    """
    if fmt == "parquet":
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(embedding.folder / files.OFFLINE, out)
        return [out]
    if fmt == "npy":
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "vectors.npy", np.asarray(embedding.to_numpy()), allow_pickle=False)
        with (out / "keys.tsv").open("w", encoding="utf-8") as fh:
            fh.write("entity\tkey\n")
            fh.writelines(
                f"{e}\t{k}\n" for e, k in zip(embedding.entities, embedding.keys, strict=True)
            )
        return [out / "vectors.npy", out / "keys.tsv"]
    if fmt == "w2v":
        spaced = [k for k in embedding.keys if any(c.isspace() for c in k)]
        if spaced:
            raise ValidationError(
                f"{len(spaced)} key(s) hold whitespace, which word2vec text cannot, e.g. "
                f"{spaced[:3]}; export as parquet or npy instead"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        matrix = embedding.to_numpy()
        with out.open("w", encoding="utf-8") as fh:
            fh.write(f"{embedding.n_rows} {embedding.dim}\n")
            for row, (entity, key) in enumerate(
                zip(embedding.entities, embedding.keys, strict=True)
            ):
                values = " ".join(f"{x:.8g}" for x in matrix[row])
                fh.write(f"{entity}:{key} {values}\n")
        return [out]
    raise UsageError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
