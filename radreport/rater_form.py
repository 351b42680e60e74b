"""The rater packet as files: CSV and XLSX for spreadsheets, and one self-contained offline HTML form.

The HTML form needs no network and no server: a rater scores A and B 1-5, picks the preferred one, comments, and
downloads their ratings as CSV (the columns `run.py human-eval import` reads).
"""

import html
import json
from pathlib import Path

import pandas as pd

FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Radiology impression review</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
.case{{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}}
.pair{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}} .text{{background:#f6f6f6;padding:.5rem;white-space:pre-wrap}}
fieldset{{border:none;padding:0;margin:.5rem 0}} textarea{{width:100%}} #status{{color:#a00}}
</style></head><body>
<h1>Radiology impression review</h1>
<p>For each case, read the findings and the two impressions. Rate each from 1 (unacceptable) to 5 (excellent),
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

CASE = """<div class="case" id="case-{id}"><h3>Case {number}</h3><p><b>Findings</b></p><div class="text">{findings}</div>
<div class="pair">{sides}</div>
<fieldset><legend>Preferred impression</legend>
<label><input type="radio" name="{id}-pref" value="A"> A</label> <label><input type="radio" name="{id}-pref" value="B"> B</label>
</fieldset><label>Comment<textarea name="{id}-comment" rows="2"></textarea></label></div>"""

SIDE = """<div><p><b>Impression {side}</b></p><div class="text">{text}</div><fieldset><legend>Rating of {side}</legend>
{radios}</fieldset></div>"""


def form_html(sheet: pd.DataFrame) -> str:
    cases = []
    for number, row in enumerate(sheet.itertuples(index=False), start=1):
        sides = "".join(SIDE.format(side=side, text=html.escape(getattr(row, f"impression_{side}")), radios=" ".join(
            f'<label><input type="radio" name="{row.case_id}-{side}" value="{v}"> {v}</label>' for v in range(1, 6)))
            for side in "AB")
        cases.append(CASE.format(id=row.case_id, number=number, findings=html.escape(row.findings), sides=sides))
    return FORM.format(cases="".join(cases), case_ids=json.dumps(list(sheet["case_id"])))


def write_packet(sheet: pd.DataFrame, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "rater_sheet.csv", out_dir / "rater_sheet.xlsx", out_dir / "rater_form.html"]
    sheet.to_csv(paths[0], index=False)
    sheet.to_excel(paths[1], index=False, sheet_name="ratings")
    paths[2].write_text(form_html(sheet), encoding="utf-8")
    return paths
