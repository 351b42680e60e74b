"""On-disk cache of BERTScore token embeddings, keyed by model (path, files, layer) and text.

A held-out split's references are scored on every checkpoint of every run; with this cache each is embedded once,
ever. Embeddings are stored as their exact float32 bytes, so scores from the cache equal freshly computed ones.
"""

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import torch


def model_fingerprint(model_path: str, num_layers: int) -> str:
    """Changes when the model's files or the layer change, so a replaced model never reuses old embeddings."""
    folder = Path(model_path)
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()) if folder.is_dir() else []
    return hashlib.sha256(repr((str(folder.resolve()) if folder.exists() else model_path, files, num_layers)).encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, path: str | Path, fingerprint: str):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, dim INTEGER, embedding BLOB, "
                        "idf BLOB)")
        self.fingerprint = fingerprint

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}\0{text}".encode()).hexdigest()

    def get_many(self, texts: list[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        keys = {self.key(t): t for t in texts}
        found = {}
        items = list(keys)
        for start in range(0, len(items), 500):  # SQLite's bound-parameter limit
            chunk = items[start:start + 500]
            rows = self.db.execute(f"SELECT key, dim, embedding, idf FROM embeddings WHERE key IN "
                                   f"({','.join('?' * len(chunk))})", chunk)
            for key, dim, embedding, idf in rows:
                found[keys[key]] = (torch.from_numpy(np.frombuffer(embedding, dtype=np.float32).reshape(-1, dim).copy()),
                                    torch.from_numpy(np.frombuffer(idf, dtype=np.float32).copy()))
        return found

    def put_many(self, stats: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", [
            (self.key(text), embedding.shape[1], embedding.float().numpy().tobytes(), idf.float().numpy().tobytes())
            for text, (embedding, idf) in stats.items()])
        self.db.commit()
