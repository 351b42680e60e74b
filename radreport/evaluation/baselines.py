"""Systems with nothing to learn that a trained model must beat, each fitted on the training split only.

- constant:            the most common training output, every time (radiology text is dominated by "normal")
- nearest_neighbour:   the output of the training example whose input is closest by TF-IDF (word 1-2-grams,
                       sublinear tf) cosine: retrieval, strong on n-gram metrics because reports are templated
- copy_input:          the input itself: strong on clinical metrics, since it names every finding
- positive_sentences:  the input's sentences in which the observation labeler finds a positive or uncertain
                       finding, else the constant: extraction, clinical F1 with far fewer words
"""

import pandas as pd

CONSTANT, NEAREST, COPY, POSITIVE = "constant", "nearest_neighbour", "copy_input", "positive_sentences"
BASELINES = (CONSTANT, NEAREST, COPY, POSITIVE)


def constant_output(train: pd.DataFrame) -> str:
    return train["output"].mode().iloc[0]


def nearest_neighbour(train: pd.DataFrame, inputs: list[str]) -> list[str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    index = vectorizer.fit_transform(train["input"])
    closest = linear_kernel(vectorizer.transform(inputs), index).argmax(axis=1)
    return train["output"].iloc[closest].tolist()


def positive_sentences(inputs: list[str], fallback: str) -> list[str]:
    from radreport.clinical.labeler import FINDINGS, POSITIVE as ASSERTED, UNCERTAIN, shared_labeler

    labeler = shared_labeler()
    outputs = []
    for text in inputs:
        sentences = [m.sentence for m in labeler.mentions(text)
                     if m.observation in FINDINGS and m.status in (ASSERTED, UNCERTAIN)]
        outputs.append(" ".join(dict.fromkeys(sentences)) or fallback)
    return outputs


def baseline_outputs(train: pd.DataFrame, inputs: list[str]) -> dict[str, list[str]]:
    """Each baseline's output for each input; `train` holds the training split's input and output columns."""
    if train.empty:
        raise ValueError("baselines need training records: the train split is empty")
    constant = constant_output(train)
    return {CONSTANT: [constant] * len(inputs), NEAREST: nearest_neighbour(train, inputs), COPY: list(inputs),
            POSITIVE: positive_sentences(inputs, constant)}
