"""One router per area of the API: meta (health), tables, vectors, writes."""

from embank.serve.routes import meta, tables, vectors, writes

__all__ = ["meta", "tables", "vectors", "writes"]
