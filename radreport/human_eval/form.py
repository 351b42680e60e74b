"""The rater packet as files: CSV and XLSX for spreadsheets, and one self-contained offline HTML form.

The HTML form needs no network and no server: a rater scores A and B 1-5, picks the preferred one, comments, and
downloads their ratings as CSV (the columns `run.py human-eval import` reads). For image studies the form shows the
packet's images/ folder beside it.
"""

import html
import json
import tempfile
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.human_eval.ratings import IMAGE_SEPARATOR, copy_packet_images
from radreport.sheets import write_csv, write_xlsx

FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Radiology {text} review</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
.case{{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}}
.pair{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}} .images img{{max-height:24rem;max-width:48%;margin-right:1%}} .text{{background:#f6f6f6;padding:.5rem;white-space:pre-wrap}}
fieldset{{border:none;padding:0;margin:.5rem 0}} textarea{{width:100%}} #status{{color:#a00}}
</style></head><body>
<h1>Radiology {text} review</h1>
<p>For each case, {context_instruction} and the two {text}s. Rate each from 1 (unacceptable) to 5 (excellent),
choose the one you prefer, and add a comment if you wish. When done, press <b>Download ratings</b> and send the
file back. Nothing leaves this page until you send the file.</p>
<label>Your rater id: <input id="rater_id" autocomplete="off"></label>
<form id="ratings">{cases}</form>
<p id="status"></p><button type="button" id="download">Download ratings</button>
<script>
const CASES = {case_ids};
function value(name) {{ const el = document.querySelector(`input[name="${{name}}"]:checked`); return el ? el.value : ""; }}
function quote(text) {{ return '"' + String(text).replace(/"/g, '""') + '"'; }}
document.getElementById("download").addEventListener("click", () => {{
  const rater = document.getElementById("rater_id").value.trim();
  const missing = CASES.filter(id => !value(`${{id}}-A`) || !value(`${{id}}-B`) || !value(`${{id}}-pref`));
  if (!rater || missing.length) {{
    document.getElementById("status").textContent = !rater ? "Please enter your rater id." :
      `Please rate every case (${{missing.length}} incomplete).`;
    return;
  }}
  const rows = [["rater_id","case_id","rating_A","rating_B","preferred","comment"].join(",")];
  for (const id of CASES) {{
    const comment = document.querySelector(`textarea[name="${{id}}-comment"]`).value;
    rows.push([quote(rater), id, value(`${{id}}-A`), value(`${{id}}-B`), value(`${{id}}-pref`), quote(comment)].join(","));
  }}
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([rows.join("\\n") + "\\n"], {{type: "text/csv"}}));
  link.download = `ratings-${{rater.replace(/[^A-Za-z0-9_-]/g, "_")}}.csv`;
  document.body.appendChild(link); link.click(); link.remove();
  document.getElementById("status").textContent = "Downloaded.";
}});
</script></body></html>
"""

CASE = """<div class="case" id="case-{id}"><h3>Case {number}</h3>{context}
<div class="pair">{sides}</div>
<fieldset><legend>Preferred {text}</legend>
<label><input type="radio" name="{id}-pref" value="A"> A</label> <label><input type="radio" name="{id}-pref" value="B"> B</label>
</fieldset><label>Comment<textarea name="{id}-comment" rows="2"></textarea></label></div>"""

SIDE = """<div><p><b>{label} {side}</b></p><div class="text">{text}</div><fieldset><legend>Rating of {side}</legend>
{radios}</fieldset></div>"""


def context_html(row) -> str:
    if hasattr(row, "images"):
        images = "".join(f'<img src="{html.escape(name)}" alt="image {n}">'
                         for n, name in enumerate(row.images.split(IMAGE_SEPARATOR), start=1))
        return f'<div class="images">{images}</div>'
    return f'<p><b>Findings</b></p><div class="text">{html.escape(row.findings)}</div>'


def form_html(sheet: pd.DataFrame) -> str:
    text = "report" if "images" in sheet else "impression"
    cases = []
    for number, row in enumerate(sheet.itertuples(index=False), start=1):
        sides = "".join(SIDE.format(side=side, label=text.capitalize(), text=html.escape(getattr(row, f"{text}_{side}")),
                                    radios=" ".join(f'<label><input type="radio" name="{row.case_id}-{side}" '
                                                    f'value="{v}"> {v}</label>' for v in range(1, 6)))
                        for side in "AB")
        cases.append(CASE.format(id=row.case_id, number=number, context=context_html(row), sides=sides, text=text))
    return FORM.format(text=text, cases="".join(cases), case_ids=json.dumps(list(sheet["case_id"])),
                       context_instruction="look at the images" if "images" in sheet else "read the findings")


def write_packet(sheet: pd.DataFrame, out_dir: Path, key: pd.DataFrame | None = None) -> list[Path]:
    """The sheet as CSV, XLSX and the HTML form; for image studies also images/, copied from the key's sources."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "rater_sheet.csv", out_dir / "rater_sheet.xlsx", out_dir / "rater_form.html"]
    write_csv(sheet, paths[0])
    write_xlsx(sheet, paths[1], sheet_name="ratings")
    paths[2].write_text(form_html(sheet), encoding="utf-8")
    if "images" in sheet:
        copy_packet_images(key, out_dir)
        paths.append(out_dir / "images")
    return paths


def publish_packet(sheet: pd.DataFrame, key: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The packet written for raters and logged to the active MLflow run (human_eval/packet: on a cluster the export
    folder is a pod's disk); the key goes to MLflow only (human_eval/unblinding_key.csv), never beside the packet."""
    paths = write_packet(sheet, out_dir, key)
    for path in paths:
        tracking.log_artifact(path, f"human_eval/packet/{path.name}" if path.is_dir() else "human_eval/packet")
    with tempfile.TemporaryDirectory() as tmp:
        tracking.log_artifact(write_csv(key, Path(tmp) / "unblinding_key.csv"), "human_eval")
    print(f"human eval: {len(sheet)} blinded cases -> {out_dir} (key: MLflow artifact human_eval/)")
    return paths
