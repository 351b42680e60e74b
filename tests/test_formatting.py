import json

import pytest

from radreport.formatting import alpaca_records, prompt, prompt_completion
from radreport.ingest import ingest
from radreport.config import StructuringConfig
from radreport.structuring.reports import structure_reports
from radreport.vocabulary import INSTRUCTIONS


@pytest.fixture
def structured(sample_path):
    return structure_reports(ingest(sample_path).reports, StructuringConfig())[0]


@pytest.mark.parametrize("task", list(INSTRUCTIONS))
def test_every_task_gives_alpaca_records(structured, task):
    records, skipped = alpaca_records(structured, task)
    assert len(records) + skipped == len(structured) and skipped == 0
    assert (records["instruction"] == INSTRUCTIONS[task]).all()
    assert records["input"].str.len().gt(0).all() and records["output"].str.len().gt(0).all()


def test_findings_to_impression_pairs_the_right_sections(structured):
    records, _ = alpaca_records(structured, "findings_to_impression")
    first = structured.iloc[0]
    row = records.iloc[0]
    assert (row["input"], row["output"]) == (first["findings"], first["impression"])


def test_reports_missing_a_section_are_skipped_and_counted(structured):
    structured.loc[structured.index[:3], "impression"] = ""
    records, skipped = alpaca_records(structured, "findings_to_impression")
    assert skipped == 3 and len(records) == len(structured) - 3


def test_prompt_completion_ends_prompt_at_response_header(structured):
    records, _ = alpaca_records(structured, "findings_to_impression")
    row = prompt_completion(records.head(1))[0]
    assert row["prompt"].endswith("### Response:\n") and row["completion"] == records.iloc[0]["output"]
    assert row["prompt"] == prompt(records.iloc[0]["instruction"], records.iloc[0]["input"])


def test_region_json_targets_are_what_the_structuring_client_accepts_and_lose_no_sentence(structured):
    """findings_to_region_json teaches the structuring endpoint's answer: valid for the client's schema, each
    findings sentence in exactly one region, regions in the schema's order, compact as constrained decoding writes."""
    from collections import Counter

    from radreport.structuring import REGIONS, split_sentences
    from radreport.structuring.llm import RegionSentences

    records, _ = alpaca_records(structured, "findings_to_region_json")
    for findings, output in records[["input", "output"]].itertuples(index=False):
        answer = RegionSentences.model_validate_json(output).model_dump()
        assert list(answer) == list(REGIONS) and output == json.dumps(answer, separators=(",", ":"),
                                                                       ensure_ascii=False)
        assert Counter(s for region in REGIONS for s in answer[region]) == Counter(split_sentences(findings))
    assert records["output"].str.startswith('{"lung":[').all()


def test_instructions_name_each_reports_modality(structured):
    """A CT report's prompt never says chest X-ray; the records carry each report's modality."""
    mixed = structured.head(4).assign(modality=["chest_xray", "ct", "mri", "ultrasound"])
    records, _ = alpaca_records(mixed, "findings_to_impression")
    assert records["modality"].tolist() == ["chest_xray", "ct", "mri", "ultrasound"]
    assert records["instruction"].tolist() == [
        "Summarize the chest X-ray findings into a concise radiology impression.",
        "Summarize the CT findings into a concise radiology impression.",
        "Summarize the MRI findings into a concise radiology impression.",
        "Summarize the ultrasound findings into a concise radiology impression."]


def test_a_ct_reports_structured_target_and_instruction_use_its_own_scheme():
    import pandas as pd

    from radreport.config import StructuringConfig
    from radreport.structuring.reports import structure_reports

    reports = pd.DataFrame({"report_id": ["ct-1"], "split": ["train"], "modality": ["ct"], "impression": ["Cyst."],
                            "findings": ["Simple cyst in the liver. The lungs are clear. No hydronephrosis."]})
    structured, _ = structure_reports(reports, StructuringConfig())
    records, _ = alpaca_records(structured, "findings_to_region_json")
    assert json.loads(records.iloc[0]["output"]) == {
        "brain": [], "spine": [], "chest": ["The lungs are clear."], "abdomen": ["Simple cyst in the liver.",
        "No hydronephrosis."], "pelvis": [], "musculoskeletal": [], "others": []}
    assert records.iloc[0]["instruction"].endswith("Answer with JSON: brain, spine, chest, abdomen, pelvis, "
                                                   "musculoskeletal, others.")
    assert "CT findings" in records.iloc[0]["instruction"]
    records, _ = alpaca_records(structured, "findings_to_structured")
    assert "Brain, Spine, Chest, Abdomen, Pelvis, Musculoskeletal, Others" in records.iloc[0]["instruction"]
    assert records.iloc[0]["output"].splitlines()[2] == "Chest: The lungs are clear."
