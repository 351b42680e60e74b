"""A synthetic CT and MRI report sample, written by this project for configs/ct_mri.yaml: findings -> conclusion
over several body parts, normal and abnormal, as one JSON array of nested records (the shape of a real export:
`{"Case": {"Id", "PatientId", "Modality", "BodyPart", "Findings", "Conclusion", "Source"}}`).

Every report is composed from templates; none is a real patient's. Each is marked `Source: synthetic` and its id
starts with SYN-CTMR-.
"""

import json
import random
from pathlib import Path

from radreport.paths import open_state

# body part -> (modality, normal sentences (one picked per group), [(finding, conclusion phrase), ...],
#               normal conclusions)
BODY_PARTS = {
    "brain": ("MR", [
        ["The ventricles and sulci are normal in size for age.", "Ventricular size is normal."],
        ["No intracranial hemorrhage, mass effect or midline shift.", "There is no mass effect or midline shift."],
        ["Gray-white matter differentiation is preserved.", "No restricted diffusion."],
        ["The paranasal sinuses and mastoid air cells are clear.", "The orbits are unremarkable."]],
        [("Scattered FLAIR hyperintensities in the periventricular white matter.",
          "Mild chronic small vessel ischemic change."),
         ("Restricted diffusion in the left frontal lobe.", "Acute left frontal infarct."),
         ("A 1 cm extra-axial enhancing mass along the right convexity.", "Small right convexity meningioma."),
         ("Old lacunar infarct in the right thalamus.", "Chronic right thalamic lacunar infarct."),
         ("Mucosal thickening of the maxillary sinuses.", "Mild sinus disease.")],
        ["No acute intracranial abnormality.", "Normal MRI of the brain."]),
    "lumbar spine": ("MR", [
        ["Vertebral body heights are maintained.", "Alignment is normal."],
        ["The conus medullaris terminates normally at L1.", "The spinal cord is normal in signal."],
        ["No spinal canal stenosis.", "The neural foramina are patent."]],
        [("Broad-based disc bulge at L4-L5 with mild foraminal narrowing.",
          "L4-L5 disc bulge with mild foraminal narrowing."),
         ("Central disc protrusion at L5-S1 contacting the S1 nerve roots.",
          "L5-S1 disc protrusion contacting the S1 roots."),
         ("Grade 1 anterolisthesis of L4 on L5.", "Grade 1 L4-L5 anterolisthesis."),
         ("Mild facet arthropathy at L4-L5 and L5-S1.", "Lower lumbar facet arthropathy."),
         ("Compression deformity of the L1 vertebral body with 20% height loss.", "L1 compression fracture.")],
        ["No significant degenerative change.", "Normal MRI of the lumbar spine."]),
    "knee": ("MR", [
        ["The menisci are intact.", "No meniscal tear."],
        ["The cruciate and collateral ligaments are intact.", "The anterior cruciate ligament is intact."],
        ["No joint effusion.", "The articular cartilage is preserved."]],
        [("Oblique tear of the posterior horn of the medial meniscus.", "Medial meniscal tear."),
         ("Complete tear of the anterior cruciate ligament.", "ACL tear."),
         ("Moderate joint effusion.", "Knee joint effusion."),
         ("Bone marrow edema in the lateral femoral condyle.", "Lateral femoral condyle bone contusion."),
         ("Full-thickness cartilage loss of the medial compartment.", "Medial compartment osteoarthritis.")],
        ["No internal derangement.", "Normal MRI of the knee."]),
    "abdomen": ("CT", [
        ["The liver is normal in size and attenuation.", "The liver enhances homogeneously."],
        ["The gallbladder and biliary tree are unremarkable.", "No biliary dilatation."],
        ["The pancreas, spleen and adrenal glands are normal.", "The spleen is normal in size."],
        ["Both kidneys enhance symmetrically without hydronephrosis.", "The kidneys are unremarkable."],
        ["No bowel obstruction or free fluid.", "The bowel is normal in caliber."]],
        [("A 2 cm simple cyst in the right hepatic lobe.", "Simple hepatic cyst."),
         ("Multiple gallstones without gallbladder wall thickening.", "Cholelithiasis without cholecystitis."),
         ("A 5 mm nonobstructing calculus in the left kidney.", "Nonobstructing left renal calculus."),
         ("Sigmoid diverticula with surrounding fat stranding.", "Acute sigmoid diverticulitis."),
         ("Diffuse low attenuation of the liver.", "Hepatic steatosis."),
         ("A 1.5 cm low attenuation left adrenal nodule.", "Left adrenal adenoma.")],
        ["No acute abdominal abnormality.", "Normal CT of the abdomen."]),
    "chest": ("CT", [
        ["The lungs are clear.", "No focal consolidation."],
        ["No pleural effusion or pneumothorax.", "The pleural spaces are clear."],
        ["Heart size is normal without pericardial effusion.", "No mediastinal lymphadenopathy."]],
        [("A 6 mm solid nodule in the right upper lobe.", "6 mm right upper lobe nodule; follow-up CT advised."),
         ("Centrilobular emphysema in both upper lobes.", "Upper lobe emphysema."),
         ("Filling defects in the right lower lobe pulmonary arteries.", "Right lower lobe pulmonary embolism."),
         ("Small left pleural effusion.", "Small left pleural effusion."),
         ("Dense consolidation in the left lower lobe.", "Left lower lobe pneumonia.")],
        ["No acute intrathoracic abnormality.", "Normal CT of the chest."]),
    "pelvis": ("MR", [
        ["The uterus is normal in size.", "The endometrium is normal in thickness."],
        ["The ovaries are unremarkable.", "No adnexal mass."],
        ["The urinary bladder is unremarkable.", "No pelvic lymphadenopathy."]],
        [("A 4 cm intramural fibroid in the uterine fundus.", "Uterine fibroid."),
         ("A 3 cm simple cyst in the right ovary.", "Right ovarian simple cyst."),
         ("Small volume free fluid in the pelvis.", "Trace pelvic free fluid."),
         ("Diffuse bladder wall thickening.", "Bladder wall thickening; correlate with urinalysis.")],
        ["No pelvic abnormality.", "Normal MRI of the pelvis."]),
}


def synthetic_case(rng: random.Random, index: int) -> dict:
    part = rng.choice(sorted(BODY_PARTS))
    modality, normal, abnormal, normal_conclusions = BODY_PARTS[part]
    found = rng.sample(abnormal, k=rng.choice([0, 1, 1, 2]))
    sentences = [rng.choice(group) for group in normal] + [finding for finding, _ in found]
    rng.shuffle(sentences)
    conclusion = " ".join(c for _, c in found) or rng.choice(normal_conclusions)
    return {"Case": {"Id": f"SYN-CTMR-{index:04d}", "PatientId": f"SYNP-CTMR-{index // 2:04d}", "Modality": modality,
                     "BodyPart": part, "Findings": " ".join(sentences), "Conclusion": conclusion,
                     "Source": "synthetic"}}


def write_ct_mri_sample(path: str | Path, n: int = 400, seed: int = 0) -> Path:
    """Write n synthetic CT/MRI reports as one JSON array (idempotent for the same n and seed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with open_state(path) as sample:  # the state directory's copy is rewritten on every run
        sample.write(json.dumps([synthetic_case(rng, i) for i in range(n)], indent=1) + "\n")
    return path
