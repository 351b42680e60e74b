"""The Open-i (NLM) IU X-Ray distribution: one XML file per study, and its download."""

import tarfile
import tempfile
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

OPENI_REPORTS_URL = "https://openi.nlm.nih.gov/imgs/collections/NLMCXR_reports.tgz"
MAX_ARCHIVE_BYTES = 256 * 2**20   # the reports archive is ~1 MB; anything near this is not it
MAX_REPORT_BYTES = 2**20          # one study's XML is a few KB
MAX_EXTRACTED_BYTES = 64 * 2**20  # all 3,955 studies' XML is ~15 MB; checked on the headers, before writing
MAX_MEMBERS = 10_000
SECTIONS = {"FINDINGS": "findings", "IMPRESSION": "impression", "INDICATION": "indication", "COMPARISON": "comparison"}


def parse_openi_xml(data: bytes) -> dict:
    """Fields of one OpenI report; ValueError when the XML is not readable."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise ValueError(f"invalid XML: {err}") from None
    fields = {name: "" for name in SECTIONS.values()}
    for node in root.iter("AbstractText"):
        name = SECTIONS.get((node.get("Label") or "").upper())
        if name:
            fields[name] = "".join(node.itertext())
    uid = root.find(".//uId")
    fields["report_id"] = uid.get("id", "").removeprefix("CXR") if uid is not None else None
    fields["image_ids"] = ";".join(img.get("id", "") for img in root.iter("parentImage"))
    fields["source"] = "openi-xml"
    return fields


def copy_limited(source, target, limit: int, what: str) -> None:
    copied = 0
    while chunk := source.read(2**20):
        copied += len(chunk)
        if copied > limit:
            raise ValueError(f"{what}: more than {limit // 2**20} MiB; not the Open-i reports archive")
        target.write(chunk)


def download_reports(out_dir: str | Path, url: str = OPENI_REPORTS_URL, timeout: float = 60.0) -> Path:
    """Fetch and unpack NLMCXR_reports.tgz into out_dir; returns the folder holding the XML files. The archive, its
    member count, its unpacked total and each member are limited, members are written by base name only, and two
    members with one name are refused rather than one overwriting the other."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "reports.tgz"
        with urllib.request.urlopen(url, timeout=timeout) as response, archive.open("wb") as f:
            copy_limited(response, f, MAX_ARCHIVE_BYTES, url)
        with tarfile.open(archive) as tar:
            for member in report_members(tar, url):
                (out_dir / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    return out_dir


def report_members(tar: tarfile.TarFile, url: str) -> list[tarfile.TarInfo]:
    """The archive's XML members, read from the headers alone: ValueError, before anything is written, for an
    archive past the member count or total size (a bomb of compressible members), an over-sized member or two
    members with one name."""
    members, by_name, total = [], {}, 0
    for count, member in enumerate(tar, start=1):
        total += member.size
        if count > MAX_MEMBERS:
            raise ValueError(f"{url}: more than {MAX_MEMBERS} members; not the Open-i reports archive")
        if total > MAX_EXTRACTED_BYTES:
            raise ValueError(f"{url}: more than {MAX_EXTRACTED_BYTES // 2**20} MiB unpacked; "
                             "not the Open-i reports archive")
        if not (member.isfile() and member.name.endswith(".xml")):
            continue
        name = Path(member.name).name
        if name in by_name:
            raise ValueError(f"{url}: members {by_name[name]!r} and {member.name!r} share the name {name!r}")
        if member.size > MAX_REPORT_BYTES:
            raise ValueError(f"{url}: member {member.name!r} is {member.size} bytes; a report is a few KB")
        by_name[name] = member.name
        members.append(member)
    if not members:
        raise ValueError(f"{url}: archive holds no XML reports")
    return members
