"""Pair studies with their chest X-ray images; a missing or unreadable image is quarantined with a reason.

Image indexes (one row per image: report_id, file, view):
- IU X-Ray: `indiana_projections.csv` (uid, filename, projection) beside the reports; the PNGs are looked up in an
  images folder under the Kaggle name (`1_IM-0001-4001.dcm.png`) or the Open-i name (`CXR1_IM-0001-4001.png`).
- any CSV with a column for each of report_id, file and view (mapped with `columns`), files relative to it.
"""

import csv
import json
import warnings
from pathlib import Path

import pandas as pd

from radreport.errors import RadreportError

MAX_PIXELS = 60_000_000  # ~7,700 x 7,700: past any chest radiograph's resolution
FORMATS = ("PNG", "JPEG")  # the only decoders Image.open tries (its default tries ~40; EPS runs Ghostscript)
DETECTED = {"PNG", "JPEG", "MPO"}  # Pillow names a JPEG that carries a multi-picture index MPO
VIEW_ORDER = {"frontal": 0, "pa": 0, "ap": 0, "lateral": 1, "ll": 1}
INDEX_COLUMNS = ["report_id", "file", "view"]


def iu_image_index(iu_folder: Path, images: Path) -> pd.DataFrame:
    projections = iu_folder / "indiana_projections.csv"
    if not projections.is_file():
        raise RadreportError(f"images.index is not set and {projections} does not exist: give images.index, a CSV with "
                             "report_id, file and view columns")
    rows = []
    with open(projections, newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["filename"]
            candidates = [images / name, images / ("CXR" + name.replace(".dcm.png", ".png"))]
            found = next((c for c in candidates if c.exists()), candidates[0])
            rows.append([row["uid"], str(found), row["projection"]])
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def csv_image_index(path: Path, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """`columns` maps report_id/file/view to the CSV's column names (unmapped ones use those names)."""
    names = {field: (columns or {}).get(field, field) for field in INDEX_COLUMNS}
    table = pd.read_csv(path, dtype=str)
    missing = [f"{field} (column {name!r})" for field, name in names.items() if name not in table.columns]
    if missing:
        raise RadreportError(f"{path}: image index lacks {', '.join(missing)}; map them with columns: {{field: column}}")
    index = table[list(names.values())].set_axis(INDEX_COLUMNS, axis=1)
    index["file"] = [str(path.parent / f) for f in index["file"]]
    return index


def image_paths(images: str) -> list[str]:
    """The paths in a study's `images` field."""
    return json.loads(images)


def image_fault(source, decode: bool = False) -> str | None:
    """Why `source` (a path or a seekable binary file object) is not a PNG or JPEG image we read, or None. Sizes are
    checked from the header before any pixel is decoded: a few-KB PNG can declare gigapixels (PIL only warns below
    179 MP). `decode` decodes every pixel too: a truncated JPEG, or a PNG whose IDAT is not zlib, passes the checksums
    and fails only there."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=FORMATS) as image:
                if image.format not in DETECTED:
                    return "not a readable PNG or JPEG image"
                if image.width * image.height > MAX_PIXELS:
                    return f"{image.width}x{image.height} pixels, over the limit of {MAX_PIXELS // 10**6} megapixels"
                image.verify()
            if decode:
                if hasattr(source, "seek"):
                    source.seek(0)
                with Image.open(source, formats=FORMATS) as image:
                    image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"declares more pixels than the limit of {MAX_PIXELS // 10**6} megapixels"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return "not a readable PNG or JPEG image"
    return None


def image_problem(path: Path) -> tuple[str, str] | None:
    """(reason, detail) for the quarantine, or None."""
    if not path.is_file():
        return "missing_image", "no such file"
    fault = image_fault(path)
    return ("unreadable_image", fault) if fault else None


def attach_images(reports: pd.DataFrame, index: pd.DataFrame, max_images: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reports with `images`, a JSON list of paths, frontal views first; quarantine rows: report_id, file, reason,
    detail). JSON rather than a list column: it round-trips through every Parquet reader.
    A report keeps its readable images; one with none readable is quarantined as `no_images`."""
    quarantine, kept = [], {}
    for row in index.itertuples(index=False):
        problem = image_problem(Path(row.file))
        if problem:
            quarantine.append([row.report_id, row.file, problem[0], f"{row.view} image {row.file}: {problem[1]}"])
        else:
            kept.setdefault(row.report_id, []).append((VIEW_ORDER.get(str(row.view).lower(), 2), row.file))
    images = {report_id: [f for _, f in sorted(views)][:max_images] for report_id, views in kept.items()}
    with_images = reports[reports["report_id"].isin(images)].copy()
    with_images["images"] = with_images["report_id"].map(lambda report_id: json.dumps(images[report_id]))
    for report_id in reports.loc[~reports["report_id"].isin(images), "report_id"]:
        quarantine.append([report_id, "", "no_images", "no readable image for this study"])
    return with_images.reset_index(drop=True), pd.DataFrame(quarantine, columns=["report_id", "file", "reason", "detail"])
