import pytest

from radreport.formatting import INSTRUCTIONS, alpaca_records, prompt, prompt_completion
from radreport.ingest import ingest
from radreport.config import StructuringConfig
from radreport.structuring.reports import structure_reports


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
