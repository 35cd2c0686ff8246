#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/corpus/, not committed): one small valid input per
format, written by the libraries researchers use. Needs the packages of scripts/requirements-test.txt.

  python3 fuzz/seeds.py
"""
import gzip
import io
import os
import zipfile

import pandas as pd
import pyreadstat
from openpyxl import Workbook

HERE = os.path.dirname(os.path.abspath(__file__))
# Must match EXTENSIONS in fuzz_targets/ingest.rs: the first byte of an input picks its extension.
EXTENSIONS = ["csv", "tsv", "txt", "csv.gz", "json", "ndjson", "json.gz", "zip", "xlsx", "xls", "ods", "parquet",
              "sav", "dta", "xpt", "sas7bdat"]


def main():
    ingest = os.path.join(HERE, "corpus", "ingest")
    archive = os.path.join(HERE, "corpus", "archive")
    os.makedirs(ingest, exist_ok=True)
    os.makedirs(archive, exist_ok=True)

    def put(ext, content, tag=""):
        with open(os.path.join(ingest, ext.replace(".", "_") + tag), "wb") as f:
            f.write(bytes([EXTENSIONS.index(ext)]) + content)

    put("csv", b"patient_id,age,seen\n001,71,2024-01-03\n002,64,2024-02-10\n")
    put("csv", b"Trial export\n\nid;va\n1;CF\n2;55\n", "-title")
    put("tsv", b"a\tb\n1\tx\n")
    put("txt", b"a|b\n1|2\n")
    put("csv.gz", gzip.compress(b"a,b\n1,2\n"))
    put("json", b'[{"a": 1, "b": {"c": [1, 2]}}, {"a": 2, "t": "2024-01-01T00:00:00.000"}]')
    put("ndjson", b'{"a": 1}\n{"a": "x"}\n')
    put("json.gz", gzip.compress(b'[{"a": 1}]'))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("t/patients.csv", "patient_id,site\nP1,S1\n")
        z.writestr("t/visits.ndjson", '{"patient_id": "P1", "va": 55}\n')
        z.writestr("t/readme.txt", "what the columns mean")
    put("zip", zipped.getvalue())
    with open(os.path.join(archive, "seed.zip"), "wb") as f:
        f.write(zipped.getvalue())
    book = Workbook()
    book.active.append(["Title"])
    book.active.append(["id", "v"])
    book.active.append(["1", 2.5])
    xlsx = io.BytesIO()
    book.save(xlsx)
    put("xlsx", xlsx.getvalue())
    frame = pd.DataFrame({"patient_id": ["P1", "P2"], "sex": [1.0, 2.0], "va": [55.0, -99.0]})
    scratch = os.path.join(HERE, "corpus", ".scratch")
    os.makedirs(scratch, exist_ok=True)
    pyreadstat.write_sav(frame, f"{scratch}/a.sav", variable_value_labels={"sex": {1: "M", 2: "F"}},
                         missing_ranges={"va": [-99]})
    pyreadstat.write_dta(frame, f"{scratch}/a.dta", variable_value_labels={"sex": {1: "M", 2: "F"}})
    pyreadstat.write_xport(frame, f"{scratch}/a.xpt")
    for ext in ["sav", "dta", "xpt"]:
        with open(f"{scratch}/a.{ext}", "rb") as f:
            put(ext, f.read())
    frame.to_parquet(f"{scratch}/a.parquet")
    with open(f"{scratch}/a.parquet", "rb") as f:
        put("parquet", f.read())
    for name in os.listdir(scratch):
        os.remove(os.path.join(scratch, name))
    os.rmdir(scratch)


if __name__ == "__main__":
    main()
