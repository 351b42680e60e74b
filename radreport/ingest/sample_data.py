"""A synthetic chest X-ray report sample, written by this project for the zero-config demo.

Every report is composed from templates; none is a real patient's. Each row is marked
`source: synthetic` and its id starts with SYN-.
"""

import json
import random
from pathlib import Path

from radreport.paths import open_state

NORMAL = {
    "heart": ["The heart is normal in size.", "Heart size is within normal limits.", "The cardiac silhouette is normal.",
              "Normal heart size."],
    "mediastinal": ["The mediastinum is unremarkable.", "Mediastinal contours are normal.",
                    "The hilar and mediastinal contours are within normal limits."],
    "lung": ["The lungs are clear.", "No focal consolidation, pleural effusion or pneumothorax.",
             "Lungs are clear bilaterally without focal airspace disease.", "There is no pneumothorax or pleural effusion."],
    "bone": ["No acute osseous abnormality.", "The visualized osseous structures are intact.", "Bony structures are unremarkable."],
}
# (findings sentence, impression phrase, region)
ABNORMAL = [
    ("The heart is mildly enlarged.", "Mild cardiomegaly.", "heart"),
    ("There is moderate cardiomegaly.", "Moderate cardiomegaly.", "heart"),
    ("Small left pleural effusion is present.", "Small left pleural effusion.", "lung"),
    ("Small bilateral pleural effusions are noted.", "Small bilateral pleural effusions.", "lung"),
    ("Patchy opacity in the right lower lobe.", "Right lower lobe opacity, possibly pneumonia.", "lung"),
    ("Focal consolidation in the left lower lobe.", "Left lower lobe pneumonia.", "lung"),
    ("Streaky opacities at the lung bases, likely atelectasis.", "Bibasilar atelectasis.", "lung"),
    ("Calcified granuloma in the right upper lobe.", "Calcified granuloma, no acute disease.", "lung"),
    ("The lungs are hyperexpanded with flattened diaphragms.", "Hyperinflation consistent with emphysema.", "lung"),
    ("Small right apical pneumothorax.", "Small right pneumothorax.", "lung"),
    ("Diffuse interstitial opacities suggest pulmonary edema.", "Pulmonary edema.", "lung"),
    ("A 1 cm nodule projects over the left mid lung.", "Left lung nodule; CT recommended.", "lung"),
    ("The aorta is tortuous and calcified.", "Atherosclerotic aorta.", "mediastinal"),
    ("The mediastinum is widened.", "Widened mediastinum.", "mediastinal"),
    ("A hiatal hernia is present.", "Hiatal hernia.", "mediastinal"),
    ("Degenerative changes of the thoracic spine.", "Degenerative thoracic spine.", "bone"),
    ("Healed fracture of a left rib.", "Old left rib fracture.", "bone"),
    ("Mild thoracic scoliosis.", "Thoracic scoliosis.", "bone"),
    ("Median sternotomy wires are intact.", "Postoperative changes after sternotomy.", "others"),
    ("A right-sided central venous catheter tip is in the SVC.", "Central line in satisfactory position.", "others"),
]
NORMAL_IMPRESSIONS = ["No acute cardiopulmonary abnormality.", "No acute cardiopulmonary process.",
                      "Normal chest.", "No acute disease."]
INDICATIONS = ["Cough.", "Chest pain.", "Shortness of breath.", "Fever.", "Preoperative evaluation.", "Follow-up."]


def synthetic_report(rng: random.Random, index: int) -> dict:
    abnormal = rng.sample(ABNORMAL, k=rng.choice([0, 0, 1, 1, 2]))
    regions_hit = {region for _, _, region in abnormal}
    sentences = [rng.choice(NORMAL[r]) for r in ("heart", "mediastinal", "lung", "bone") if r not in regions_hit]
    sentences += [finding for finding, _, _ in abnormal]
    rng.shuffle(sentences)
    impression = " ".join(imp for _, imp, _ in abnormal) or rng.choice(NORMAL_IMPRESSIONS)
    return {
        "report_id": f"SYN-{index:04d}",
        "patient_id": f"SYNP-{index // 2:04d}",  # two studies per synthetic patient
        "indication": rng.choice(INDICATIONS),
        "comparison": rng.choice(["None.", "Prior study from XXXX."]),
        "findings": " ".join(sentences),
        "impression": impression,
        "source": "synthetic",
    }


def write_sample(path: str | Path, n: int = 400, seed: int = 0) -> Path:
    """Write n synthetic reports as JSONL (idempotent for the same n and seed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = [json.dumps(synthetic_report(rng, i)) for i in range(n)]
    with open_state(path) as sample:  # the state directory's copy is rewritten on every run
        sample.write("\n".join(lines) + "\n")
    return path
