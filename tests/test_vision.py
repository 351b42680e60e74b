"""Image -> region-structured report on CPU: real IU X-ray images, a tiny random LLaVA-Next, the real code paths."""

import pandas as pd
import pytest

from radreport.config import StructuringConfig, VisionTrainConfig
from radreport.vision.images import attach_images, csv_image_index, image_paths, iu_image_index
from radreport.metrics import MetricSuite
from radreport.structuring import REGIONS, parse_regions, render, structure
from radreport.structuring.reports import structure_reports
from radreport.vision.format import VisionCollator, vision_records

PROMPT = VisionTrainConfig.model_fields["prompt"].default


@pytest.fixture(scope="module")
def studies(iu_xray, iu_images, tmp_path_factory):
    from radreport.ingest import ingest

    broken = tmp_path_factory.mktemp("broken")
    (broken / "bad.png").write_bytes(b"not a png at all")
    index = csv_image_index(iu_images / "mapping.csv", {"report_id": "iu_uid", "view": "projection"})
    index = pd.concat([index, pd.DataFrame([["1900", str(broken / "gone.png"), "Lateral"],
                                            ["3", str(broken / "bad.png"), "Lateral"]], columns=index.columns)])
    reports = ingest(str(iu_xray)).reports
    reports = reports[reports["report_id"].isin(set(index["report_id"]) | {"2"})]  # study 2 has no image here
    with_images, quarantine = attach_images(reports, index)
    return with_images, quarantine


def test_studies_pair_with_images_and_bad_images_are_quarantined(studies, iu_xray, iu_images):
    with_images, quarantine = studies
    assert sorted(with_images["report_id"]) == ["1900", "25", "3", "303", "54", "7"]
    assert dict(zip(quarantine["reason"], quarantine["report_id"])) == {
        "missing_image": "1900", "unreadable_image": "3", "no_images": "2"}
    two_views = image_paths(with_images.set_index("report_id").loc["1900", "images"])
    assert [p.rsplit("/", 1)[1] for p in two_views] == ["CXR1900_IM-0584-1001.png", "CXR1900_IM-0584-2001.png"]
    iu_index = iu_image_index(iu_xray, iu_images / "images")  # Open-i file names resolved from the IU projections
    assert iu_index.set_index("file").index.str.endswith("CXR1900_IM-0584-1001.png").any()


def test_generated_reports_split_back_into_regions():
    findings = "The heart is normal in size. The lungs are clear. No acute bony abnormality."
    assert parse_regions(render(structure(findings))) == structure(findings)
    inline = parse_regions("Lung: Clear lungs. Heart: None. Bone: Old rib fracture.")
    assert inline == {**{r: [] for r in REGIONS}, "lung": ["Clear lungs."], "bone": ["Old rib fracture."]}


@pytest.fixture(scope="module")
def records(studies):
    structured, _ = structure_reports(studies[0], StructuringConfig())
    records, skipped = vision_records(structured, PROMPT)
    assert len(records) == 5 and skipped == 1  # one study has no findings section
    records["split"] = ["train", "train", "train", "validation", "test"]
    return records


def test_collation_supervises_only_the_report(records, tiny_llava):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_llava)
    batch = VisionCollator(processor)(records.head(2).to_dict("records"))
    images = sum(len(image_paths(r)) for r in records.head(2)["images"])  # frontal and lateral where the study has both
    assert batch["pixel_values"].shape[:2] == (images, 2)  # per image: the base view and one high-res tile
    image_token = processor.tokenizer.convert_tokens_to_ids("<image>")
    for i, record in enumerate(records.head(2).to_dict("records")):
        supervised = batch["labels"][i][batch["labels"][i] != -100]
        assert processor.tokenizer.decode(supervised).strip() == record["output"] + "</s>"
        assert (batch["input_ids"][i] == image_token).sum() > 0 and image_token not in supervised


# llava-hf/llava-v1.6-mistral-7b-hf's chat template as published: the assistant turn ends with the text `<\s> `.
LLAVA_MISTRAL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}<<SYS>>\n{{ message['content'][0]['text'] }}"
    "\n<</SYS>>\n\n{% elif message['role'] == 'user' %}[INST] {% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %} [/INST]{% elif message['role'] == 'assistant' %} {% for content in message['content'] %}"
    "{% if content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}<\\s> {% endif %}{% endfor %}"
)


def test_the_report_ends_in_eos_whatever_the_template_writes(records, tiny_llava):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_llava)
    processor.chat_template = LLAVA_MISTRAL_TEMPLATE
    record = records.head(1).to_dict("records")[0]
    full, _ = VisionCollator(processor).texts(record)
    assert "<\\s>" not in full and full.endswith(record["output"] + "</s>")
    labels = VisionCollator(processor)([record])["labels"][0]
    assert int(labels[labels != -100][-1]) == processor.tokenizer.eos_token_id


def test_train_resume_generate_parse_and_score_on_cpu(records, tiny_llava, tmp_path):
    from transformers import TrainerCallback

    from radreport.inference.adapters import ImageAdapter
    from radreport.modality import load_adapter
    from radreport.vision.training import train_vision_lora

    class Killed(Exception):
        pass

    class KillAtStep6(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 6:
                raise Killed

    config = VisionTrainConfig(model=str(tiny_llava), backend="cpu-lora", max_steps=12, batch_size=3, grad_accum=1,
                               learning_rate=2e-3, save_steps=4, logging_steps=1)
    with pytest.raises(Killed):  # interrupted after the step-4 checkpoint: the rerun resumes there, as text does
        train_vision_lora(records, config, tmp_path / "first", callbacks=[KillAtStep6()])
    checkpoints = train_vision_lora(records, config, tmp_path / "adapter")
    manifest = checkpoints.manifest
    losses = [e["loss"] for e in checkpoints.log_history if "loss" in e]
    assert manifest["takes_images"] and manifest["task"] == "image_to_structured" and losses[-1] < losses[0]
    summary = manifest["summary"]
    assert summary["resumed_from_step"] == 4 and summary["global_step"] == 12
    assert checkpoints.steps == [4, 8, 12] and summary["best_eval_loss_step"] in (4, 8, 12)  # every one kept
    assert 0 < summary["trainable_share"] < 0.5

    adapter = load_adapter(checkpoints, summary["best_eval_loss_step"])  # the modality comes from the manifest
    assert isinstance(adapter, ImageAdapter)
    lora_layers = [name for name, _ in adapter.model.named_modules() if name.endswith("lora_A")]
    assert lora_layers and all("language_model" in name for name in lora_layers)  # vision tower, projector frozen
    untuned = load_adapter(checkpoints, None).model
    assert not any(name.endswith("lora_A") for name, _ in untuned.named_modules())
    test = records[records["split"] == "test"].to_dict("records")
    reports = adapter.generate(test, batch_size=2, max_new_tokens=24)
    assert len(reports) == len(test) and all(isinstance(r, str) for r in reports)
    regions = MetricSuite(["rouge", "bleu"]).by_region([r["output"] for r in test], reports, split=parse_regions)
    assert set(regions) == set(REGIONS)


def test_vision_pipeline_end_to_end_registers_a_version_that_takes_images(stack, iu_images, tiny_llava, tmp_path,
                                                                         browser, capsys):
    import json

    import yaml
    from mlflow import MlflowClient
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from ops.stack import tracking_uri
    from run import main

    mapping = pd.read_csv(iu_images / "mapping.csv", dtype=str).drop_duplicates("iu_uid")
    splits = dict(zip(["1900", "7", "54", "303", "25", "3"], ["train", "train", "train", "validation", "test", "test"]))
    data = tmp_path / "reports.jsonl"
    data.write_text("".join(json.dumps({"report_id": r.iu_uid, "findings": r.findings, "impression": r.impression,
                                        "split": splits[r.iu_uid]}) + "\n" for r in mapping.fillna("").itertuples()))
    config = tmp_path / "vision.yaml"
    config.write_text(yaml.safe_dump({
        "images": {"path": str(iu_images), "index": str(iu_images / "mapping.csv"),
                   "columns": {"report_id": "iu_uid", "view": "projection"}},
        "train": {"model": str(tiny_llava), "backend": "cpu-lora", "max_steps": 4, "batch_size": 2, "grad_accum": 1,
                  "learning_rate": 2e-3, "save_steps": 2, "logging_steps": 1},
        "eval": {"split": "test", "max_examples": 2, "max_new_tokens": 8, "batch_size": 2, "metrics": ["bleu", "rouge"]},
        "promotion": {"model_name": "radreport-vision-test", "floors": {"rougeL": 0.0}, "beat_baselines": []}}))
    main(["run", "--config", str(config), "--data", str(data)])

    run = Client().get_pipeline("radreport_vision").last_run
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == {"ingest_reports", "structure_findings", "attach_images", "format_conversations",
                              "train_vision", "evaluate_checkpoints", "export_human_eval", "promote_model"}
    evaluation = run.steps["evaluate_checkpoints"].outputs["evaluation"][0].load()
    assert list(evaluation.scores.index) == ["constant", "base", "step-2", "step-4"] and evaluation.best_step in (2, 4)
    assert set(evaluation.regions["system"]) <= set(evaluation.scores.index)
    client = MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())
    version = client.get_model_version("radreport-vision-test", "1")
    assert version.tags["task"] == "image_to_structured" and version.tags["takes_images"] == "True"
    assert client.get_registered_model("radreport-vision-test").aliases == {"champion": 1}
    from radreport.evaluation.significance import per_example_scores

    # what significance testing reads
    scores = per_example_scores(version.run_id, int(version.tags["step"]), "rougeL", tracking_uri())
    examples = evaluation.examples
    assert list(scores.index) == list(examples["report_id"]) and scores.between(0, 1).all()
    generate_with_the_image_champion(iu_images, tmp_path)
    serve_the_image_champion(iu_images)
    rate_the_image_packet(browser, capsys)


def rate_the_image_packet(browser, capsys):
    """The packet shows each test study's images under the case id only; Chromium renders them, a rater's
    downloaded ratings import onto the registered version."""
    from selenium.webdriver.common.by import By

    from radreport.human_eval.ratings import IMAGE_SEPARATOR
    from radreport.paths import exports
    from run import main
    from tests.forms import fill_and_download

    packet = exports() / "radreport-vision-test"
    sheet = pd.read_csv(packet / "rater_sheet.csv", dtype=str)
    shown = [name for names in sheet["images"] for name in names.split(IMAGE_SEPARATOR)]
    assert len(sheet) >= 1 and sorted(shown) == sorted(f"images/{p.name}" for p in (packet / "images").iterdir())
    assert "cxr" not in ((packet / "rater_form.html").read_text() + sheet.to_csv()).lower()  # no IU file name or id
    browser.get((packet / "rater_form.html").as_uri())
    widths = [img.get_property("naturalWidth") for img in browser.find_elements(By.CSS_SELECTOR, ".images img")]
    assert len(widths) == len(shown) and all(w == 512 for w in widths)
    ratings = fill_and_download(browser, packet / "rater_form.html", "imgrad", lambda case_id: (3, 4, "B"))
    main(["human-eval", "import", str(ratings), "--name", "radreport-vision-test"])
    assert f"{len(sheet)} ratings by 1 raters on {len(sheet)} cases" in capsys.readouterr().out


def generate_with_the_image_champion(iu_images, tmp_path):
    import json

    from run import main

    frontal, lateral = (str(iu_images / "images" / f"CXR1900_IM-0584-{n}.png") for n in ("1001", "2001"))
    main(["generate", "--name", "radreport-vision-test", "--images", frontal, lateral, "--max-new-tokens", "6"])
    rows, out = tmp_path / "studies.jsonl", tmp_path / "reports.jsonl"
    rows.write_text(json.dumps({"study": "a", "images": [frontal, lateral]}) + "\n" + json.dumps({"images": [frontal]}) + "\n")
    main(["generate", "--name", "radreport-vision-test", "--input", str(rows), "--output", str(out),
          "--max-new-tokens", "6"])
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 2 and written[0]["study"] == "a" and all(isinstance(w["generated"], str) for w in written)
    with pytest.raises(SystemExit, match="writes reports from images: give --images or --input"):
        main(["generate", "--name", "radreport-vision-test", "--findings", "The lungs are clear."])
    with pytest.raises(SystemExit, match=r"--images: image .*missing.png not found"):
        main(["generate", "--name", "radreport-vision-test", "--images", str(tmp_path / "missing.png")])
    rows.write_text(json.dumps({"findings": "text"}) + "\n")
    with pytest.raises(SystemExit, match=r"studies.jsonl:1: needs an 'images' list"):
        main(["generate", "--name", "radreport-vision-test", "--input", str(rows), "--output", str(out)])


def serve_the_image_champion(iu_images):
    import base64

    import httpx

    from tests.serving import serving

    frontal, lateral = (base64.b64encode((iu_images / "images" / f"CXR1900_IM-0584-{n}.png").read_bytes()).decode()
                        for n in ("1001", "2001"))
    with serving("--name", "radreport-vision-test") as (url, health):
        assert health.json()["task"] == "image_to_structured"
        ok = httpx.post(f"{url}/v1/report", json={"images": [frontal, lateral], "max_new_tokens": 6}, timeout=60)
        assert ok.status_code == 200 and isinstance(ok.json()["report"], str)
        bad = {
            "not base64": httpx.post(f"{url}/v1/report", json={"images": ["not an image!"]}, timeout=10),
            "not an image": httpx.post(f"{url}/v1/report", json={"images": [base64.b64encode(b"%PDF").decode()]},
                                       timeout=10),
            "three images": httpx.post(f"{url}/v1/report", json={"images": [frontal] * 3}, timeout=10),
            "no images": httpx.post(f"{url}/v1/report", json={"images": []}, timeout=10),
            "text route": httpx.post(f"{url}/v1/generate", json={"findings": ["x"]}, timeout=10),
        }
        assert {name: r.status_code for name, r in bad.items()} == {**dict.fromkeys(bad, 422), "text route": 404}
        assert "images[0]: not a readable PNG or JPEG image" in bad["not an image"].text
        assert "images[0] is not base64" in bad["not base64"].text
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200  # still up


def test_the_4bit_load_keeps_the_vision_tower_and_projector_in_full_precision(tiny_llava):
    """The hf-qlora loader on CPU (bitsandbytes loads 4-bit there): no Linear4bit under the vision tower or the
    projector, and the language model's linear layers are 4-bit."""
    import bitsandbytes as bnb

    from radreport.vision.training import load_for_training

    from radreport.vision.training import trainable_share

    model, _ = load_for_training("hf-qlora", VisionTrainConfig(model=str(tiny_llava), backend="hf-qlora"))
    four_bit = [name for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)]
    assert four_bit and all("language_model" in name for name in four_bit)
    assert not [n for n in four_bit if "vision_tower" in n or "multi_modal_projector" in n]
    full, _ = load_for_training("cpu-lora", VisionTrainConfig(model=str(tiny_llava), backend="cpu-lora"))
    assert trainable_share(model) == pytest.approx(trainable_share(full))  # 4-bit weights counted unpacked


def test_the_pyfunc_model_refuses_an_image_over_the_pixel_limit_before_decoding_it():
    """A small PNG declaring 12000x12000 (900 MB once decoded): refused from its header, naming the image."""
    import base64
    import io
    import struct
    import zlib

    from mlflow.exceptions import MlflowException
    from PIL import Image

    from radreport.registry.mlflow_pyfunc import checked_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 12000, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 12001 * 10)) + chunk(b"IEND", b"")
    with pytest.raises(MlflowException, match=r"images\[0\]\[1\]: .*limit of 60 megapixels"):
        checked_image(base64.b64encode(bomb).decode(), "images[0][1]")
    small = io.BytesIO()
    Image.new("L", (8, 8)).save(small, format="PNG")
    assert checked_image(base64.b64encode(small.getvalue()).decode(), "images[0][0]") == small.getvalue()
