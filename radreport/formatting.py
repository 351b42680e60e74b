"""Alpaca-format instruction records, and the plain-text prompt the model is trained and served with.

A plain Alpaca template (not a chat template): the embedded Gemma-3-270M is a base model whose
chat end-of-turn token is untrained, so the response ends with the tokenizer's EOS instead.
"""

import pandas as pd

from radreport.structuring import REGIONS, render

PROMPT_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
INSTRUCTIONS = {
    "findings_to_impression": "Summarize the chest X-ray findings into a concise radiology impression.",
    "impression_to_findings": "Write the findings section of a chest X-ray report consistent with this impression.",
    "findings_to_structured": "Reorganize the chest X-ray findings by anatomical region: Lung, Heart, Mediastinal, Bone, Others.",
}
RECORD_COLUMNS = ["report_id", "split", "instruction", "input", "output"]


def task_fields(row, task: str) -> tuple[str, str]:
    """(input, output) of one report for a task; empty strings when the report lacks a section."""
    if task == "findings_to_impression":
        return row.findings, row.impression
    if task == "impression_to_findings":
        return row.impression, row.findings
    if not row.findings:
        return "", ""
    return row.findings, render({r: [getattr(row, r)] if getattr(row, r) else [] for r in REGIONS})


def alpaca_records(structured: pd.DataFrame, task: str) -> tuple[pd.DataFrame, int]:
    """Alpaca records for every report that has both sides of the task; returns (records, skipped)."""
    rows = []
    for row in structured.fillna("").itertuples(index=False):
        source, target = task_fields(row, task)
        if source and target:
            rows.append([row.report_id, row.split, INSTRUCTIONS[task], source, target])
    return pd.DataFrame(rows, columns=RECORD_COLUMNS), len(structured) - len(rows)


def prompt(instruction: str, input_text: str) -> str:
    return PROMPT_TEMPLATE.format(instruction=instruction, input=input_text)


def prompt_completion(records: pd.DataFrame) -> list[dict]:
    """trl's prompt/completion rows: the loss falls on the completion only."""
    return [{"prompt": prompt(r.instruction, r.input), "completion": r.output}
            for r in records.itertuples(index=False)]
