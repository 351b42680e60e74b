"""Every source format, and the bad inputs real exports contain."""

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from radreport.config import DataConfig
from radreport.ingest import IngestError, ingest
from tests.test_ingest import OPENI_XML

FIXTURES = Path(__file__).parent / "fixtures"


def mimic_tree(root: Path) -> list[dict]:
    cases = [json.loads(line) for line in (FIXTURES / "mimic_style_reports.jsonl").read_text().splitlines()]
    for case in cases:
        path = root / case["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case["text"].encode())
    return cases


def test_mimic_style_sections_are_parsed_in_every_case(tmp_path):
    cases = mimic_tree(tmp_path / "files")
    result = ingest(tmp_path / "files")
    assert result.read == len(cases) >= 30 and result.quarantine.empty
    reports = result.reports.set_index("report_id")
    for case in cases:
        patient, study = Path(case["file"]).parts[1], Path(case["file"]).stem
        row = reports.loc[f"{patient}/{study}"]
        assert (row["findings"], row["impression"]) == (case["findings"], case["impression"]), case["file"]
        assert row["patient_id"] == patient and row["source"] == "mimic"
    assert reports.groupby("patient_id")["split"].nunique().max() == 1


def test_text_dir_keeps_headingless_reports_as_findings(tmp_path):
    (tmp_path / "a.txt").write_text("FINDINGS: Lungs clear.\nIMPRESSION: Normal.")
    (tmp_path / "b.txt").write_text("The heart is normal. The lungs are clear.")
    (tmp_path / "c.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (tmp_path / "d.txt").write_text("   \n")
    result = ingest(tmp_path, format="text-dir")
    reports = result.reports.set_index("report_id")
    assert reports.loc["b", "findings"] == "The heart is normal. The lungs are clear."
    assert dict(zip(result.quarantine["source_file"].map(lambda p: Path(p).name), result.quarantine["reason"])) == {
        "c.txt": "unparseable", "d.txt": "unparseable"}
    assert "binary" in result.quarantine.set_index("reason")["detail"].iloc[0]


def test_iu_xray_csv_and_openi_xml_give_the_same_reports(iu_xray, tmp_path):
    rows = list(csv.DictReader(io.StringIO((iu_xray / "indiana_reports.csv").read_text())))[:40]
    for row in rows:
        xml = OPENI_XML.format(uid=row["uid"], findings=escape(row["findings"]), impression=escape(row["impression"]))
        (tmp_path / f"{row['uid']}.xml").write_text(xml)
    from_xml = ingest(tmp_path).reports.set_index("report_id")
    from_csv = ingest(iu_xray).reports.set_index("report_id")
    assert len(from_xml) == sum(bool(r["findings"] or r["impression"]) for r in rows)
    for column in ("findings", "impression"):
        assert from_xml[column].equals(from_csv.loc[from_xml.index, column])


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def test_truncated_xml_is_quarantined_and_its_neighbours_kept(tmp_path):
    good = OPENI_XML.format(uid=5, findings="Lungs clear.", impression="Normal.")
    (tmp_path / "5.xml").write_text(good)
    (tmp_path / "6.xml").write_text(good[: len(good) // 2])
    result = ingest(tmp_path)
    assert list(result.reports["report_id"]) == ["5"]
    assert list(result.quarantine["reason"]) == ["unparseable"] and "invalid XML" in result.quarantine["detail"][0]


def test_a_10mb_report_is_quarantined_as_too_long(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"id": "big", "findings": "Lungs clear. " * 800_000, "impression": "x"}) + "\n"
                    + json.dumps({"id": "ok", "findings": "Lungs clear.", "impression": "Normal."}) + "\n")
    result = ingest(path)
    assert list(result.reports["report_id"]) == ["ok"] and list(result.quarantine["reason"]) == ["too_long"]


def test_mixed_line_endings_and_utf16_bom_csv(tmp_path):
    text = 'id,findings,impression\r\n1,"Lungs\r\nclear.",Normal.\n2,Heart normal.,Normal.\r3,Effusion.,Small effusion.\r\n'
    for name, data in (("mixed.csv", text.encode()), ("utf16.csv", text.encode("utf-16"))):
        (tmp_path / name).write_bytes(data)
        result = ingest(tmp_path / name)
        assert list(result.reports["report_id"]) == ["1", "2", "3"], name
        assert result.reports["findings"].iloc[0] == "Lungs clear."


def test_parquet_with_a_column_mapping(tmp_path):
    pd.DataFrame({"accession": ["A1", "A2"], "mrn_hash": ["p1", "p1"], "FIND": ["Lungs clear.", "Effusion."],
                  "IMP": ["Normal.", "Effusion."]}).to_parquet(tmp_path / "r.parquet")
    cfg = DataConfig(columns={"report_id": "accession", "patient_id": "mrn_hash", "findings": "FIND", "impression": "IMP"})
    reports = ingest(tmp_path / "r.parquet", cfg).reports
    assert list(reports["report_id"]) == ["A1", "A2"] and reports["split"].nunique() == 1


def test_a_json_array_of_nested_records_with_dotted_column_paths(tmp_path):
    """A real export's shape: one JSON array of nested records; bad records are quarantined with a reason."""
    cases = [{"Case": {"Id": "mr-1", "Findings": "Small T2 hyperintense foci.", "Diagnosis": "Mild small vessel disease."}},
             {"Case": {"Id": "ct-2", "Findings": "Normal liver.", "Diagnosis": "No acute abnormality."}},
             {"Case": {"Id": "ct-3"}},
             ["not", "a", "record"]]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(cases))
    cfg = DataConfig(columns={"report_id": "Case.Id", "findings": "Case.Findings", "impression": "Case.Diagnosis"})
    result = ingest(path, cfg)
    assert list(result.reports["report_id"]) == ["mr-1", "ct-2"]
    assert result.reports.set_index("report_id").loc["mr-1", "impression"] == "Mild small vessel disease."
    assert result.quarantine["row"].tolist() == [3, 4]
    assert set(result.reports["modality"]) == {"chest_xray"}  # the source names none: data.modality
    cfg = DataConfig(modality="MR", columns={**cfg.columns, "modality": "Case.Kind"})
    cases[1]["Case"]["Kind"] = "CT"
    path.write_text(json.dumps(cases))
    assert ingest(path, cfg).reports["modality"].tolist() == ["mri", "ct"]
    assert "not an object" in result.quarantine.iloc[1]["detail"]


def test_a_json_object_of_records_takes_its_keys_as_ids_and_bad_json_names_the_line(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"A7": {"findings": "Lungs clear.", "impression": "Normal."}}))
    assert list(ingest(path).reports["report_id"]) == ["A7"]
    path.write_text('[{"findings": "Lungs clear."},\n {"findings": }]')
    with pytest.raises(IngestError, match=r"export.json: line 2: invalid JSON"):
        ingest(path)


def test_free_text_column_is_split_into_sections(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame({"id": [1], "text": ["FINDINGS: Lungs clear. IMPRESSION: Normal."]}).to_csv(path, index=False)
    row = ingest(path).reports.iloc[0]
    assert (row["findings"], row["impression"]) == ("Lungs clear.", "Normal.")


def test_duplicate_text_policy(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"id": "a", "findings": "Lungs clear.", "impression": "Normal."},
            {"id": "b", "findings": "lungs  clear", "impression": "normal"},
            {"id": "c", "findings": "Effusion.", "impression": "Effusion."}]
    path.write_text("\n".join(map(json.dumps, rows)))
    kept = ingest(path)
    assert list(kept.reports["duplicate_of"]) == ["", "a", ""] and kept.counts["duplicate_text_kept"] == 1
    dropped = ingest(path, duplicates="quarantine")
    assert list(dropped.reports["report_id"]) == ["a", "c"]
    assert list(dropped.quarantine["reason"]) == ["duplicate_text"]


def test_phi_screen_counts_and_can_refuse(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": 1, "findings": "Discussed with Dr. Smith on 03/04/2019.", "impression": "Call 555-123-4567."},
        {"id": 2, "findings": "Lungs clear.", "impression": "MRN: 12345678"}]))
    assert ingest(path).phi == {"date": 1, "phone": 1, "doctor_name": 1, "mrn": 1}
    with pytest.raises(IngestError, match="likely identifiers"):
        ingest(path, phi_check="refuse")


def test_placeholders_are_kept_or_mapped(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": 1, "findings": "No XXXX of effusion.", "impression": "Normal chest x-XXXX."}))
    assert ingest(path).reports["findings"][0] == "No XXXX of effusion."
    assert ingest(path, placeholder="[redacted]").reports["impression"][0] == "Normal chest x-[redacted]."


def test_ingest_command_writes_parquet_and_quarantine(tmp_path, capsys):
    from run import main

    path = tmp_path / "r.jsonl"
    path.write_text('{"id": 1, "findings": "Lungs clear.", "impression": "Normal."}\n{"id": 2}\n')
    main(["ingest", str(path), "--out", str(tmp_path / "out")])
    assert "read=2 accepted=1 quarantined=1" in capsys.readouterr().out
    assert len(pd.read_parquet(tmp_path / "out" / "reports.parquet")) == 1
    assert pd.read_csv(tmp_path / "out" / "quarantine.csv")["reason"].tolist() == ["empty_text"]
    with pytest.raises(SystemExit, match="no such file"):
        main(["ingest", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out")])


def test_materializer_round_trip_and_dashboard_summary(stack, sample_path, tmp_path):
    from materializers.report_table import IngestResultMaterializer

    result = ingest(sample_path)
    materializer = IngestResultMaterializer(str(tmp_path / "artifact"))
    (tmp_path / "artifact").mkdir()
    materializer.save(result)
    loaded = materializer.load(type(result))
    pd.testing.assert_frame_equal(loaded.reports, result.reports)
    assert loaded.read == result.read and materializer.extract_metadata(result)["accepted"] == 120
    html_path = next(iter(materializer.save_visualizations(result)))
    html = Path(html_path).read_text()
    assert "Per split" in html and "Quarantine reasons" in html and "Section lengths" in html


def test_a_source_at_a_url_is_fetched_fingerprinted_and_named_in_the_quarantine(iu_xray):
    import fsspec

    from radreport.ingest import source_fingerprint

    store = fsspec.filesystem("memory")
    for name in ("indiana_reports.csv", "indiana_projections.csv", "r2gen_annotation.json"):
        if (iu_xray / name).exists():
            store.pipe(f"/bucket/iu/{name}", (iu_xray / name).read_bytes())
    import tempfile
    from pathlib import Path

    copies = lambda: set(Path(tempfile.gettempdir()).glob("radreport-data-*"))  # noqa: E731
    before = copies()
    remote, local = ingest("memory://bucket/iu"), ingest(str(iu_xray))
    assert copies() == before  # the fetched copy is deleted once read
    assert remote.reports.equals(local.reports) and len(remote.quarantine) == len(local.quarantine)
    assert all(f.startswith("memory://bucket/iu/") for f in remote.quarantine["source_file"])
    fingerprint = source_fingerprint("memory://bucket/iu")
    store.pipe("/bucket/iu/indiana_reports.csv", (iu_xray / "indiana_reports.csv").read_bytes() + b"\n")
    assert source_fingerprint("memory://bucket/iu") != fingerprint
    with pytest.raises(IngestError, match="memory://bucket/missing: no such file or folder"):
        ingest("memory://bucket/missing")


def test_json_exports_wrapped_misnamed_or_mistyped_get_one_clear_answer(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"reports": [{"findings": "Lungs clear.", "impression": "Normal."}]}))
    assert len(ingest(path).reports) == 1  # a wrapped array
    path.write_text('{"findings": "Lungs clear."}\n{"findings": "Effusion."}\n')
    with pytest.raises(IngestError, match="one record per line is JSONL"):
        ingest(path)
    path.write_text(json.dumps([{"Case": {"Findings": "Lungs clear."}}]))
    with pytest.raises(IngestError, match="no findings, impression or report text column"):
        ingest(path, DataConfig(columns={"findings": "Case.Finding"}))  # a typo in the path
    path.write_text(json.dumps([{"findings": "Lungs clear.", "modality": "PET"}]))
    assert ingest(path).quarantine["reason"].tolist() == ["unknown_modality"]
    with pytest.raises(ValueError, match="unknown modality 'PET'"):
        DataConfig(modality="PET")
