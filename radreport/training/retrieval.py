"""Retrieval-augmented prompts: the model sees the closest training example's input and output beside its own input.

Radiology reports are templated per radiologist, so the closest training findings carry the wording of the
impression to write: on IU X-Ray a TF-IDF lookup alone scores ROUGE-L 0.685. Plain similarity copies the wrong
verdict, though (clinical F1 0.30): among the `k` closest by TF-IDF the example chosen is the one whose input asserts
the same observations as the query's (Jaccard, by the observation labeler), ties broken by similarity; that lookup
alone scores ROUGE-L 0.694 and clinical F1 0.44 there. The model learns what to change.

The index (the training inputs and outputs) is stored with the checkpoints (`retrieval.jsonl`), so evaluation,
serving and export use exactly the examples training used. It holds training report text: it stays in the same
stores as the training data.
"""

import json
from functools import cache
from pathlib import Path

import numpy as np

FILE = "retrieval.jsonl"


class ExampleIndex:
    @classmethod
    def of_training(cls, train) -> tuple["ExampleIndex", list[tuple[str, str]]]:
        """The index of a training table's distinct reports, and each row's example: never the row's own report
        (rows repeated by abnormal_weight included), though another report with the same text may be."""
        reports = train.drop_duplicates("report_id")
        index = cls(reports["input"].tolist(), reports["output"].tolist())
        position = {report_id: i for i, report_id in enumerate(reports["report_id"])}
        return index, index.examples(train["input"].tolist(), [position[r] for r in train["report_id"]])

    def __init__(self, inputs: list[str], outputs: list[str], k: int = 10):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not inputs:
            raise ValueError("a retrieval index needs training examples: the train split is empty")
        self.inputs, self.outputs, self.k = list(inputs), list(outputs), k
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform(self.inputs)
        self.asserted = asserted_findings(self.inputs)

    def nearest(self, queries: list[str], exclude: list[int] | None = None) -> list[int]:
        """Per query, the index of its example; `exclude[i]`: an example query i must not get (itself, in training)."""
        from sklearn.metrics.pairwise import linear_kernel

        similarity = linear_kernel(self.vectorizer.transform(queries), self.matrix)
        candidates = np.argsort(-similarity, axis=1)[:, :self.k + 1]
        chosen = []
        for i, (observations, row) in enumerate(zip(asserted_findings(queries), candidates)):
            row = [j for j in row if exclude is None or j != exclude[i]][:self.k]
            chosen.append(max(row, key=lambda j: (jaccard(observations, self.asserted[j]), similarity[i, j])))
        return [int(j) for j in chosen]

    def examples(self, queries: list[str], exclude: list[int] | None = None) -> list[tuple[str, str]]:
        return [(self.inputs[j], self.outputs[j]) for j in self.nearest(queries, exclude)]

    def save(self, folder: Path) -> None:
        with open(Path(folder) / FILE, "w") as out:
            for text, target in zip(self.inputs, self.outputs):
                out.write(json.dumps({"input": text, "output": target}) + "\n")


@cache
def stored_index(folder: str) -> ExampleIndex | None:
    """The index saved in a checkpoint folder (built once per process: serving asks on every request), or None."""
    path = Path(folder) / FILE
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return ExampleIndex([r["input"] for r in rows], [r["output"] for r in rows])


def asserted_findings(texts: list[str]) -> list[frozenset]:
    from radreport.clinical.labeler import FINDINGS, positive_set, shared_labeler

    return [frozenset(positive_set(labels) & set(FINDINGS)) for labels in shared_labeler().label(texts)]


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def prompts_for(checkpoints, instructions: list[str], inputs: list[str], own_outputs: list[str] | None = None) -> list[str]:
    """The prompts a checkpoint set was trained with, for new inputs: retrieval-augmented when it has an index.
    `own_outputs`: the inputs are training studies with these reports, each kept from being its own example (as in
    training; otherwise the example would hand the model its answer)."""
    from radreport.formatting import prompt

    index = stored_index(str(checkpoints.path))
    exclude = None
    if index and own_outputs is not None:
        position = {}
        for j, pair in enumerate(zip(index.inputs, index.outputs)):
            position.setdefault(pair, j)
        exclude = [position.get(pair, -1) for pair in zip(inputs, own_outputs)]
    examples = index.examples(inputs, exclude) if index else [None] * len(inputs)
    return [prompt(instruction, text, example) for instruction, text, example in zip(instructions, inputs, examples)]
