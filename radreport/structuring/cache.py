"""On-disk cache of LLM structuring answers, keyed by prompt version + model + findings text."""

import hashlib
import json
import sqlite3
from pathlib import Path


class StructuringCache:
    COMMIT_EVERY = 200  # a commit per answer would sync the disk on every call

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, regions TEXT NOT NULL)")
        self.hits = self.misses = self.pending = 0

    @staticmethod
    def key(prompt_version: str, model: str, findings: str) -> str:
        return hashlib.sha256(json.dumps([prompt_version, model, findings]).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT regions FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, regions: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, json.dumps(regions)))
        self.pending += 1
        if self.pending >= self.COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        self.db.commit()
        self.pending = 0

    def close(self) -> None:
        self.commit()
        self.db.close()
