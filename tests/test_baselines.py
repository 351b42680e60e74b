"""The trivial systems every model is scored beside, and the retrieval-augmented prompts built on the same lookup."""

import pandas as pd

from radreport.evaluation.baselines import BASELINES, baseline_outputs
from radreport.training.checkpoints import CheckpointSet
from radreport.config import TrainConfig
from radreport.formatting import PROMPT_TEMPLATE
from radreport.training.retrieval import ExampleIndex, prompts_for
from radreport.training.lora import training_examples
from radreport.training.runs import optimizer_steps

TRAIN = pd.DataFrame({
    "report_id": ["a", "b", "c", "d"], "split": "train", "instruction": "Summarize.",
    "input": ["The lungs are clear. Heart size normal.", "The lungs are clear. Heart size normal.",
              "Small left pleural effusion. Heart size normal.", "Heart is enlarged. The lungs are clear."],
    "output": ["No acute cardiopulmonary abnormality.", "No acute cardiopulmonary abnormality.",
               "Small left pleural effusion.", "Cardiomegaly."]})


def test_each_baseline_answers_every_input():
    inputs = ["Heart size normal. The lungs are clear.", "Moderate cardiomegaly. No pleural effusion."]
    outputs = baseline_outputs(TRAIN, inputs)
    assert list(outputs) == list(BASELINES)
    assert outputs["constant"] == ["No acute cardiopulmonary abnormality."] * 2
    assert outputs["nearest_neighbour"][0] == "No acute cardiopulmonary abnormality."
    assert outputs["copy_input"] == inputs
    # no positive finding in the first: the constant; the negated effusion is not copied from the second
    assert outputs["positive_sentences"] == ["No acute cardiopulmonary abnormality.", "Moderate cardiomegaly."]


def test_retrieval_prefers_an_example_with_the_same_findings_and_never_the_row_itself():
    index, examples = ExampleIndex.of_training(pd.concat([TRAIN, TRAIN.iloc[[2]]]))  # c repeated (abnormal_weight)
    assert examples[0] == (TRAIN.input[1], TRAIN.output[1])       # a gets b: the same text, another report
    assert examples[2][1] != "Small left pleural effusion." and examples[4] == examples[2]  # c never gets c
    # closest by words is the clear-lungs report; the one asserting the same observation wins
    assert index.examples(["Heart size normal. Small left pleural effusion is seen."])[0][1] == "Small left pleural effusion."


def test_prompts_follow_the_checkpoint_set(tmp_path):
    plain = CheckpointSet(str(tmp_path / "plain"))
    assert prompts_for(plain, ["Summarize."], ["Lungs clear."]) == [PROMPT_TEMPLATE.format(instruction="Summarize.", input="Lungs clear.")]
    (tmp_path / "rag").mkdir()
    ExampleIndex(TRAIN.input.tolist(), TRAIN.output.tolist()).save(tmp_path / "rag")
    [augmented] = prompts_for(CheckpointSet(str(tmp_path / "rag")), ["Summarize."], ["Heart is enlarged."])
    assert "### Example response:\nCardiomegaly.\n\n### Input:\nHeart is enlarged.\n\n### Response:\n" in augmented


def test_training_examples_weighting_dedupe_and_epochs():
    records = pd.concat([TRAIN, TRAIN.assign(split="validation")])
    weighted = training_examples(records, TrainConfig(abnormal_weight=3))
    assert weighted["report_id"].value_counts().to_dict() == {"c": 3, "d": 3, "a": 1, "b": 1}
    assert list(training_examples(records, TrainConfig(dedupe=True))["report_id"]) == ["a", "c", "d"]
    assert optimizer_steps(TrainConfig(epochs=2, batch_size=3), 8) == 6
    assert optimizer_steps(TrainConfig(max_steps=7), 8) == 7
