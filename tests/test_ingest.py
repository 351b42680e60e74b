import io
import json
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from radreport.ingest import IngestError, ingest, source_fingerprint, fingerprint
from radreport.ingest.splits import assign_split
from radreport.sheets import write_csv

OPENI_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR{uid}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="INDICATION">Cough.</AbstractText>
<AbstractText Label="FINDINGS">{findings}</AbstractText>
<AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation>
<parentImage id="CXR{uid}_IM-0001-1001"/><parentImage id="CXR{uid}_IM-0001-2001"/></eCitation>"""


def test_synthetic_sample_is_accepted_whole(sample_path):
    result = ingest(sample_path)
    assert result.read == 120 and len(result.reports) == 120 and result.quarantine.empty
    assert set(result.reports["source"]) == {"synthetic"}
    assert set(result.reports["split"]) == {"train", "validation", "test"}


def test_iu_xray_csv_uses_the_r2gen_split(iu_xray):
    result = ingest(iu_xray)
    counts = result.counts
    assert counts["read"] == 3851 and counts["accepted"] + counts["quarantined"] == 3851
    assert counts["quarantined"] == result.quarantine["reason"].eq("empty_text").sum()
    reports = result.reports.set_index("report_id")
    assert reports.loc["2", "split"] == "test"  # CXR2_IM-0652 is in R2Gen's test split
    assert reports.loc["1", "image_ids"] == "1_IM-0001-4001.dcm.png;1_IM-0001-3001.dcm.png"
    assert "XXXX" in reports.loc["1", "impression"]  # de-identification placeholders are kept
    test = reports[reports["split"] == "test"]
    both = test[(test["findings"] != "") & (test["impression"] != "")]
    assert len(both) == 590  # exactly R2Gen's test split: studies outside it train
    assert counts["split_outside_r2gen_to_train"] > 0 and set(reports["split"]) == {"train", "validation", "test"}


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_kept(tmp_path):
    path = tmp_path / "reports.jsonl"
    rows = [{"id": "a", "findings": "Lungs are clear.", "impression": "Normal."},
            {"id": "b", "findings": "", "impression": None},
            {"id": "a", "findings": "Heart is normal.", "impression": "Normal."},
            {"id": "c", "findings": 12, "impression": "Normal."},
            {"id": "d", "findings": "x" * 50, "impression": "long"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    result = ingest(path, max_chars=40)
    assert list(result.reports["report_id"]) == ["a"]
    assert dict(zip(result.quarantine["row"], result.quarantine["reason"])) == {
        2: "empty_text", 3: "duplicate_id", 4: "non_text", 5: "too_long", 6: "unparseable"}
    assert result.read == len(result.reports) + len(result.quarantine)


def test_a_record_of_the_wrong_shape_is_quarantined_not_a_traceback(tmp_path):
    path = tmp_path / "reports.jsonl"
    deep = '{"id": "c", "findings": "Clear.", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text("\n".join([json.dumps({"id": "a", "findings": "Lungs are clear."}),
                               json.dumps({"id": "b", "findings": "Lungs are clear.", "images": 5}), deep]) + "\n")
    result = ingest(path)
    assert list(result.reports["report_id"]) == ["a"]
    assert result.quarantine[["row", "reason", "detail"]].values.tolist() == [
        [2, "non_text", "image_ids: expected text or a list, got int"], [3, "unparseable", "JSON nested too deeply"]]
    whole = tmp_path / "reports.json"
    whole.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(IngestError, match="nested too deeply") as err:
        ingest(whole)
    assert str(whole) in str(err.value)


def test_undecodable_bytes_quarantine_their_row_and_an_undecodable_header_stops_the_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("id,findings,impression\n1,Clear.,Normal.\n".encode("utf-16") + b"A")  # a stray odd byte
    result = ingest(path)
    assert result.read == 2 and list(result.reports["report_id"]) == ["1"]
    assert result.quarantine[["row", "reason"]].values.tolist() == [[3, "undecodable"]]
    result.reports.to_parquet(tmp_path / "reports.parquet")  # nothing undecodable reaches the outputs
    write_csv(result.quarantine, tmp_path / "quarantine.csv")
    header = "id,findings".encode("utf-16")
    path.write_bytes(header + b"\x00\xdc" + ",impression\n1,Clear.,Normal.\n".encode("utf-16-le"))  # a lone surrogate
    with pytest.raises(IngestError, match="header holds bytes its encoding cannot decode") as err:
        ingest(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"uid,notes\n1,hello\n", "no findings, impression or report text column"),
    (b"\x00\x01\x02binary\x00junk" * 50, "binary content"),
])
def test_unreadable_files_fail_with_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message) as err:
        ingest(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_latin1_and_utf16_csv_are_read(tmp_path):
    text = "id,findings,impression\n1,Opacité in the right base.,Pneumonia.\n"
    for encoding in ("latin-1", "utf-16"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        assert ingest(path).reports["findings"].iloc[0] == "Opacité in the right base."


def test_a_line_separator_inside_a_jsonl_record_does_not_split_it(tmp_path):
    path = tmp_path / "reports.jsonl"
    rows = [{"id": "a", "findings": "Lungs are clear.\u2028Heart is normal.", "impression": "Normal.\u0085"},
            {"id": "b", "findings": "Small effusion.", "impression": "Effusion."}]
    path.write_text("\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n", encoding="utf-8")
    result = ingest(path)
    assert result.read == 2 and result.quarantine.empty
    assert result.reports["findings"].iloc[0] == "Lungs are clear. Heart is normal."


def test_windows_1252_text_keeps_its_punctuation(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("id,findings,impression\n1,Heart size normal\u2026 lungs \u201cclear\u201d.,Normal.\n".encode("cp1252"))
    result = ingest(path)
    assert result.read == 1 and result.reports["findings"].iloc[0] == "Heart size normal\u2026 lungs \u201cclear\u201d."


def test_an_over_long_csv_field_quarantines_its_row_not_the_file(tmp_path):
    long = "Lungs are clear. " * 10_000  # 170,000 characters: past the csv module's default field limit
    table = tmp_path / "reports.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "findings": ["Clear.", long, "Effusion."],
                  "impression": ["Normal.", "Normal.", "Effusion."]}).to_csv(table, index=False)
    folder = tmp_path / "iu"
    folder.mkdir()
    pd.DataFrame({"uid": ["1", "2", "3"], "findings": ["Clear.", long, "Effusion."],
                  "impression": ["Normal.", "Normal.", "Effusion."]}).to_csv(folder / "indiana_reports.csv", index=False)
    for source in (table, folder):
        result = ingest(source)
        assert result.read == 3 and len(result.reports) == 2
        assert result.quarantine[["row", "reason"]].values.tolist() == [[3, "too_long"]]


def test_splits_are_per_patient_stable_and_deterministic():
    keys = [f"patient-{i}" for i in range(5000)]
    first = [assign_split(k, 0.1, 0.1) for k in keys]
    assert first == [assign_split(k, 0.1, 0.1) for k in keys]
    shares = pd.Series(first).value_counts(normalize=True)
    assert abs(shares["test"] - 0.1) < 0.02 and abs(shares["validation"] - 0.1) < 0.02


def test_patients_never_span_splits(tmp_path):
    rows = [{"id": f"r{i}", "patient_id": f"p{i % 37}", "findings": f"Finding {i}.", "impression": "Normal."}
            for i in range(400)]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    reports = ingest(path).reports
    assert reports.groupby("patient_id")["split"].nunique().max() == 1
    # new reports arriving never move old ones
    path.write_text("\n".join(json.dumps(r) for r in rows + [{"id": "new", "patient_id": "p999", "findings": "x.", "impression": "y."}]))
    again = ingest(path).reports.set_index("report_id")
    assert (again.loc[reports["report_id"], "split"].values == reports["split"].values).all()


def test_fingerprints_track_content(tmp_path, sample_path):
    reports = ingest(sample_path).reports
    assert fingerprint(reports) == fingerprint(reports.sample(frac=1, random_state=0))
    changed = tmp_path / "changed.jsonl"
    changed.write_text(sample_path.read_text().replace("clear", "CLEAR", 1))
    assert source_fingerprint(changed) != source_fingerprint(sample_path)
    assert fingerprint(ingest(changed).reports) != fingerprint(reports)


def serve_archive(tmp_path, members: list[tuple[str, bytes]]) -> tuple[ThreadingHTTPServer, str]:
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    with tarfile.open(served / "NLMCXR_reports.tgz", "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/NLMCXR_reports.tgz"


def test_data_download_fetches_an_openi_archive_from_a_server(tmp_path):
    """`run.py data download iu-xray` against a local HTTP server serving a tarball in Open-i's layout."""
    from run import main

    server, url = serve_archive(tmp_path, [
        (f"ecgen-radiology/{uid}.xml", OPENI_XML.format(uid=uid, findings=findings, impression=impression).encode())
        for uid, findings, impression in [(1, "The lungs are clear.", "Normal chest."),
                                          (2, "Borderline cardiomegaly.", "No acute disease."), (3, "", "")]])
    try:
        main(["data", "download", "iu-xray", "--out", str(tmp_path / "xml"), "--url", url])
    finally:
        server.shutdown()
    result = ingest(tmp_path / "xml")
    assert result.read == 3 and list(result.quarantine["reason"]) == ["empty_text"]
    row = result.reports.set_index("report_id").loc["2"]
    assert row["findings"] == "Borderline cardiomegaly." and row["source"] == "openi-xml"
    assert row["image_ids"] == "CXR2_IM-0001-1001;CXR2_IM-0001-2001"


def test_data_download_refuses_clashing_names_and_oversized_archives(tmp_path, monkeypatch):
    from radreport.ingest import openi
    from run import main

    report = OPENI_XML.format(uid=1, findings="Clear.", impression="Normal.").encode()
    server, url = serve_archive(tmp_path, [("a/1.xml", report), ("b/1.xml", report)])
    try:
        with pytest.raises(SystemExit, match="members 'a/1.xml' and 'b/1.xml' share the name '1.xml'"):
            main(["data", "download", "iu-xray", "--out", str(tmp_path / "xml"), "--url", url])
        monkeypatch.setattr(openi, "MAX_ARCHIVE_BYTES", 100)
        with pytest.raises(SystemExit, match="more than 0 MiB; not the Open-i reports archive"):
            main(["data", "download", "iu-xray", "--out", str(tmp_path / "xml"), "--url", url])
    finally:
        server.shutdown()
    assert not list((tmp_path / "xml").glob("*.xml"))


def test_data_download_refuses_an_archive_bomb_before_writing_it(tmp_path, monkeypatch):
    """A ~125 kB .tgz of 120 one-MiB members (each under the member limit) would unpack to 120 MiB."""
    from radreport.ingest import openi
    from run import main

    out = tmp_path / "xml"
    server, url = serve_archive(tmp_path, [(f"r/{i}.xml", b" " * openi.MAX_REPORT_BYTES) for i in range(120)])
    try:
        with pytest.raises(SystemExit, match="more than 64 MiB unpacked; not the Open-i reports archive"):
            main(["data", "download", "iu-xray", "--out", str(out), "--url", url])
        monkeypatch.setattr(openi, "MAX_MEMBERS", 50)
        with pytest.raises(SystemExit, match="more than 50 members; not the Open-i reports archive"):
            main(["data", "download", "iu-xray", "--out", str(out), "--url", url])
    finally:
        server.shutdown()
    assert not list(out.iterdir())


def test_the_synthetic_sample_is_never_written_through_a_symlink(tmp_path):
    """The state directory's copy is rewritten on every run without --data."""
    from radreport.errors import RadreportError
    from radreport.ingest.sample_ct_mri import write_ct_mri_sample
    from radreport.ingest.sample_data import write_sample

    target = tmp_path / "precious"
    target.write_text("keep me")
    for write in (write_sample, write_ct_mri_sample):
        link = tmp_path / f"{write.__name__}.json"
        link.symlink_to(target)
        with pytest.raises(RadreportError, match="is a symbolic link"):
            write(link, n=2)
    assert target.read_text() == "keep me"
