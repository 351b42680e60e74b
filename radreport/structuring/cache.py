"""On-disk cache of LLM structuring answers, keyed by prompt version + model + findings text.

Several processes may share one cache file: WAL mode lets readers run beside a writer, every answer is its own short
transaction (with synchronous=NORMAL a WAL commit does not sync the disk), and a writer that still finds the file
locked after the busy timeout logs and goes on: a cache is never worth failing the step and losing paid answers.
"""

import hashlib
import json
import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)


class StructuringCache:
    BUSY_TIMEOUT_S = 30.0

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=self.BUSY_TIMEOUT_S, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, regions TEXT NOT NULL)")
        self.hits = self.misses = self.write_errors = 0

    @staticmethod
    def key(prompt_version: str, model: str, findings: str) -> str:
        return hashlib.sha256(json.dumps([prompt_version, model, findings]).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        try:
            row = self.db.execute("SELECT regions FROM answers WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError as error:
            log.warning("structuring cache: read failed (%s); asking the endpoint", error)
            row = None
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, regions: dict) -> None:
        try:
            self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, json.dumps(regions)))
        except sqlite3.OperationalError as error:
            self.write_errors += 1
            log.warning("structuring cache: write failed (%s); this answer is used but not cached", error)

    def close(self) -> None:
        self.db.close()
