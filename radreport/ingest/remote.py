"""Report sources at a URL (s3://, gs://, az://, https://, any fsspec protocol), so a pipeline on a cluster reads
its data from object storage: fetched into a local folder before ingest, fingerprinted from the store's metadata
(ETag or checksum, size, modification time) without downloading."""

import hashlib
from pathlib import Path


def is_remote(path) -> bool:
    return "://" in str(path)


def fetch(url: str, into: Path) -> Path:
    """The file or folder at `url`, copied under `into`; returns the local path."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    if not fs.exists(root):
        raise FileNotFoundError(f"{url}: no such file or folder")
    local = into / Path(root.rstrip("/")).name
    fs.get(root.rstrip("/") + ("/" if fs.isdir(root) else ""), str(local) + ("/" if fs.isdir(root) else ""),
           recursive=fs.isdir(root))
    return local


def remote_fingerprint(url: str) -> str:
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    entries = fs.find(root, detail=True) if fs.isdir(root) else {root: fs.info(root)}
    digest = hashlib.sha256()
    for name, info in sorted(entries.items()):
        version = info.get("ETag") or info.get("etag") or info.get("md5") or info.get("mtime") or info.get("created")
        digest.update(repr((name.removeprefix(root), info.get("size"), str(version))).encode())
    return digest.hexdigest()[:16]
