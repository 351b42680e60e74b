"""GREEN (Ostmeier et al., 2024): a judge model reads a reference and a candidate report, counts the candidate's
clinically significant errors in six categories and the findings both share; per pair

    GREEN = matched / (matched + significant errors),   0 when nothing matched.

The judge is any OpenAI-compatible chat endpoint: a GREEN model served by vLLM or llama.cpp
(`vllm serve StanfordAIMI/GREEN-RadLlama2-7b`) or a general LLM; or a local GREEN model folder run in this process
(its chat template, else the one green_score gives it). The prompt is the one the GREEN models were trained on and
the answer is parsed as the reference implementation (green_score) parses it. An answer that does not
follow the template scores 0 (green_score's return_0_if_no_green_score) and is counted in the notes.
"""

import asyncio
import re
from dataclasses import dataclass

from radreport.config import GreenJudgeConfig
from radreport.endpoint_client import EndpointClient

ERROR_CATEGORIES = ("false report of a finding", "missing a finding present in the reference",
                    "misidentification of a finding's anatomic location/position",
                    "misassessment of the severity of a finding",
                    "mentioning a comparison that isn't in the reference",
                    "omitting a comparison detailing a change from a prior study")

PROMPT = """Objective: Evaluate the accuracy of a candidate radiology report in comparison to a reference radiology report composed by expert radiologists.

    Process Overview: You will be presented with:

    1. The criteria for making a judgment.
    2. The reference radiology report.
    3. The candidate radiology report.
    4. The desired format for your assessment.

    1. Criteria for Judgment:

    For each candidate report, determine:

    The count of clinically significant errors.
    The count of clinically insignificant errors.

    Errors can fall into one of these categories:

    a) False report of a finding in the candidate.
    b) Missing a finding present in the reference.
    c) Misidentification of a finding's anatomic location/position.
    d) Misassessment of the severity of a finding.
    e) Mentioning a comparison that isn't in the reference.
    f) Omitting a comparison detailing a change from a prior study.
    Note: Concentrate on the clinical findings rather than the report's writing style. Evaluate only the findings that appear in both reports.

    2. Reference Report:
    {reference}

    3. Candidate Report:
    {candidate}

    4. Reporting Your Assessment:

    Follow this specific format for your output, even if no errors are found:
    ```
    [Explanation]:
    <Explanation>

    [Clinically Significant Errors]:
    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>
    ....
    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>

    [Clinically Insignificant Errors]:
    (a) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>
    ....
    (f) <Error Type>: <The number of errors>. <Error 1>; <Error 2>; ...; <Error n>

    [Matched Findings]:
    <The number of matched findings>. <Finding 1>; <Finding 2>; ...; <Finding n>
    ```
"""


GREEN_CHAT = "<|user|>\n{prompt}{eos}\n<|assistant|>\n"  # green_score's template, for models without their own


def judge_prompt(reference: str, candidate: str) -> str:
    return PROMPT.format(reference=reference, candidate=candidate)


@dataclass(frozen=True)
class Judgement:
    matched: int
    significant: tuple[int, ...]  # one count per ERROR_CATEGORIES entry
    parsed: bool                  # False: the answer had no [Clinically Significant Errors] section

    @property
    def green(self) -> float:
        if not self.parsed or self.matched == 0:
            return 0.0
        return self.matched / (self.matched + sum(self.significant))


def section(text: str, name: str) -> str | None:
    found = re.search(rf"\[{re.escape(name)}\]:\s*(.*?)(?:\n\s*\n|\Z)", text, re.DOTALL)
    return found.group(1) if found else None


def category_counts(body: str | None) -> tuple[int, ...]:
    """Counts per category from '(a) <type>: <n>. ...' lines (or '(1)'..'(6)', as GPT-4 answers)."""
    counts = [0] * len(ERROR_CATEGORIES)
    if not body or body.startswith("No"):
        return tuple(counts)
    for label, rest in re.findall(r"\(([a-f1-6])\) (.*)", body):
        index = "abcdef".index(label) if label.isalpha() else int(label) - 1
        number = re.search(r"(?<=: )\b\d+\b(?=\.)", rest)
        if number:
            counts[index] = int(number.group())
    return tuple(counts)


def parse_judgement(text: str) -> Judgement:
    significant = section(text, "Clinically Significant Errors")
    matched_body = section(text, "Matched Findings") or ""
    matched = re.match(r"\d+(?=\.)", matched_body)
    return Judgement(matched=int(matched.group()) if matched and not matched_body.startswith("No") else 0,
                     significant=category_counts(significant), parsed=significant is not None)


class GreenJudge:
    """Scores pairs through the judge endpoint (radreport.endpoint_client: guarded, `concurrency` at a time,
    retried) or a local judge model: each distinct pair asked once."""

    def __init__(self, cfg: GreenJudgeConfig):
        # a disallowed endpoint is refused here, before any report is read
        self.endpoint = EndpointClient(cfg, "eval.green") if cfg.base_url else None
        self.cfg = cfg
        self.unparsed = 0
        self._local = None

    @property
    def description(self) -> str:
        note = f"; {self.unparsed} judge answers did not follow the template and scored 0" if self.unparsed else ""
        where = f"{self.cfg.model} at {self.cfg.base_url}" if self.cfg.base_url else f"{self.cfg.model_path} (local)"
        return f"GREEN: judge {where}, significant errors only{note}"

    def judge(self, references: list[str], candidates: list[str]) -> list[Judgement]:
        pairs = list(zip(references, candidates))
        distinct = sorted(set(pairs))
        answers = asyncio.run(self.ask_all(distinct)) if self.cfg.base_url else self.ask_local(distinct)
        judgements = {pair: parse_judgement(text) for pair, text in answers.items()}
        self.unparsed += sum(not judgements[p].parsed for p in pairs)
        return [judgements[p] for p in pairs]

    def score(self, references: list[str], candidates: list[str]) -> list[float]:
        return [j.green for j in self.judge(references, candidates)]

    def ask_local(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        from radreport.inference.generation import generate

        if self._local is None:
            self._local = load_judge(self.cfg.model_path)
        model, tokenizer = self._local
        prompts = [chat(tokenizer, judge_prompt(*pair)) for pair in pairs]
        return dict(zip(pairs, generate(model, tokenizer, prompts, self.cfg.batch_size, self.cfg.max_tokens,
                                        desc="GREEN judge")))

    async def ask_all(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        async with self.endpoint:
            answers = await asyncio.gather(*(self.endpoint.complete(
                [{"role": "user", "content": judge_prompt(*pair)}], temperature=0.0) for pair in pairs))
        return dict(zip(pairs, answers))


def load_judge(path: str):
    """(model, tokenizer): bf16 on the GPU when there is one, else fp32 on the CPU; left padding for batches."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from radreport.training.models import load_for_inference, resolve_model

    folder = resolve_model(path)
    model = load_for_inference(AutoModelForCausalLM, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return model, tokenizer


def chat(tokenizer, prompt: str) -> str:
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return GREEN_CHAT.format(prompt=prompt, eos=tokenizer.eos_token)
