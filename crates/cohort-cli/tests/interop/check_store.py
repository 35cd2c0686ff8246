"""Reads a cohort store with other tools: pyarrow, pandas, and Python's duckdb package.

Usage: check_store.py STORE SHOW_JSON EXPECTED_CSV
Exits non-zero with a message naming what differs.
"""

import csv
import datetime
import json
import sys

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

store, show_path, expected_path = sys.argv[1:4]
with open(show_path) as f:
    show = json.load(f)
with open(expected_path, newline="", encoding="utf-8") as f:
    expected = list(csv.DictReader(f))

table = show["shown"]["tables"][0]
files = [f"{store}/{f['path']}" for f in table["files"]]

# pyarrow: schema and values.
arrow = pq.ParquetDataset(files).read()
assert arrow.num_rows == len(expected), (arrow.num_rows, len(expected))
rows = arrow.to_pylist()
assert rows[0]["patient_id"] == "00123", rows[0]
assert rows[0]["stage"] == "01", rows[0]
assert rows[0]["age"] == 71, rows[0]
assert rows[0]["weight_kg"] == 70.5, rows[0]
assert rows[0]["visit_date"] == datetime.date(2024, 1, 31), rows[0]
assert rows[0]["measured_at"] == datetime.datetime(2024, 1, 31, 12, 34, 56), rows[0]
assert rows[0]["smoker"] is True, rows[0]
assert rows[0]["name"] == "Zoë Ångström", rows[0]
assert rows[1]["comment"] == 'she said "hi"', rows[1]
assert rows[2]["weight_kg"] is None and rows[2]["visit_date"] is None, rows[2]
for field in arrow.schema:
    assert "uint" not in str(field.type), f"unsigned type for {field.name}: Spark cannot read it"
    assert "[ns" not in str(field.type), f"nanosecond timestamp for {field.name}"

# pandas (through pyarrow) keeps identifiers as strings.
frame = pd.read_parquet(files[0])
assert list(frame["patient_id"]) == [r["patient_id"] for r in expected], frame["patient_id"]
assert frame["age"].isna().sum() == 1

# Python's duckdb opens the views database and finds the dataset without cohort.
con = duckdb.connect(f"{store}/datasets.duckdb", read_only=True)
got = con.sql('SELECT patient_id, stage, age FROM rt.people ORDER BY patient_id').fetchall()
assert got == [("00123", "01", 71), ("00124", "10", None), ("99999", "02", 45)], got
listed = con.sql("SELECT name, current_version FROM cohort_catalog.datasets").fetchall()
assert listed == [("rt", 1)], listed
print("interop ok: pyarrow", pa.__version__, "pandas", pd.__version__, "duckdb", duckdb.__version__)
