"""Alpaca-format instruction records, and the plain-text prompt the model is trained and served with.

A plain Alpaca template (not a chat template): the embedded Gemma-3-270M is a base model whose
chat end-of-turn token is untrained, so the response ends with the tokenizer's EOS instead.
"""

import json

import pandas as pd

from radreport.structuring.rules import CHEST
from radreport.structuring.schemes import scheme_for, split_sentences
from radreport.vocabulary import INSTRUCTIONS, PROMPT_NAMES

PREAMBLE = ("Below is an instruction that describes a task, paired with an input that provides further context. "
            "Write a response that appropriately completes the request.\n\n")
PROMPT_TEMPLATE = PREAMBLE + "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
# Retrieval-augmented (train.retrieval): the closest training example first, the input last, next to the response.
RETRIEVAL_TEMPLATE = (PREAMBLE + "### Instruction:\n{instruction}\n\n### Example input:\n{example_input}\n\n"
                      "### Example response:\n{example_output}\n\n### Input:\n{input}\n\n### Response:\n")
RECORD_COLUMNS = ["report_id", "split", "modality", "instruction", "input", "output"]


def headings(regions) -> str:
    return ", ".join(r.capitalize() for r in regions)


def instruction(task: str, modality: str = "chest_xray") -> str:
    """The task's instruction for reports of one imaging modality: its name and its scheme's regions (never
    "chest X-ray" or the chest's regions in a CT prompt)."""
    chest, scheme = CHEST.regions, scheme_for(modality).regions
    text = INSTRUCTIONS[task].replace(headings(chest), headings(scheme))
    text = text.replace(", ".join(chest), ", ".join(scheme))
    return text.replace("chest X-ray", PROMPT_NAMES.get(modality, "radiology"))


def task_fields(row, task: str) -> tuple[str, str]:
    """(input, output) of one report for a task; empty strings when the report lacks a section."""
    if task == "findings_to_impression":
        return row.findings, row.impression
    if task == "impression_to_findings":
        return row.impression, row.findings
    if not row.findings:
        return "", ""
    scheme = scheme_for(getattr(row, "modality", "") or "chest_xray")
    if task == "findings_to_region_json":
        return row.findings, region_json({r: split_sentences(getattr(row, r)) for r in scheme.regions})
    return row.findings, scheme.render({r: [getattr(row, r)] if getattr(row, r) else [] for r in scheme.regions})


def region_json(regions: dict[str, list[str]]) -> str:
    """Compact JSON in the scheme's region order (the structuring schema's): what constrained decoding lets through."""
    return json.dumps(regions, ensure_ascii=False, separators=(",", ":"))


def alpaca_records(structured: pd.DataFrame, task: str) -> tuple[pd.DataFrame, int]:
    """Alpaca records for every report that has both sides of the task; returns (records, skipped)."""
    rows = []
    for row in structured.fillna("").itertuples(index=False):
        source, target = task_fields(row, task)
        if source and target:
            modality = getattr(row, "modality", "") or "chest_xray"
            rows.append([row.report_id, row.split, modality, instruction(task, modality), source, target])
    return pd.DataFrame(rows, columns=RECORD_COLUMNS), len(structured) - len(rows)


def prompt(instruction: str, input_text: str, example: tuple[str, str] | None = None) -> str:
    """The plain Alpaca prompt, or with `example` (a training input and its output) the retrieval-augmented one."""
    if example is None:
        return PROMPT_TEMPLATE.format(instruction=instruction, input=input_text)
    return RETRIEVAL_TEMPLATE.format(instruction=instruction, input=input_text, example_input=example[0],
                                     example_output=example[1])


def prompt_completion(records: pd.DataFrame, examples: list[tuple[str, str]] | None = None) -> list[dict]:
    """trl's prompt/completion rows: the loss falls on the completion only. `examples`: one per record."""
    examples = examples or [None] * len(records)
    return [{"prompt": prompt(r.instruction, r.input, example), "completion": r.output}
            for r, example in zip(records.itertuples(index=False), examples)]
